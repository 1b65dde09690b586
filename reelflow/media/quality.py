"""Objective quality of an encode against its reference: VMAF when an ffmpeg with libvmaf is
available, PSNR (Debian ffmpeg) otherwise. The metric used is recorded with the score, since
the two scales are not comparable.
"""

from __future__ import annotations

import functools
import math
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from reelflow.config import ConfigError, Settings
from reelflow.domain.ladders import QualityMetric
from reelflow.media.errors import MediaError
from reelflow.media.ffmpeg_run import run_ffmpeg

Metric = QualityMetric

# Identical pictures give PSNR "inf"; cap it so scores stay finite numbers (JSON, averages).
PSNR_CAP_DB = 100.0

_VMAF_RE = re.compile(r"VMAF score[:=]\s*([0-9.]+)")
_PSNR_RE = re.compile(r"PSNR .*?average:([0-9.]+|inf)")


@functools.cache
def ffmpeg_has_libvmaf(ffmpeg: str) -> bool:
    """Whether ``ffmpeg`` lists the libvmaf filter (cached per path: a worker asks once).

    A binary that is missing, will not run or hangs has no libvmaf either.
    """
    try:
        out = subprocess.run(
            [ffmpeg, "-hide_banner", "-filters"],
            capture_output=True,
            text=True,
            timeout=20,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and re.search(r"^\s*\S+\s+libvmaf\s", out.stdout, re.M) is not None


def vmaf_ffmpeg(settings: Settings) -> str | None:
    """An ffmpeg whose filter list has libvmaf, or None (quality then falls back to PSNR,
    which ``reelflow doctor``, each ladder and the title status say). A configured path
    (``REELFLOW_VMAF_FFMPEG_PATH``) without libvmaf is a ConfigError: it was meant to
    measure VMAF. Otherwise imageio-ffmpeg's static build, when it has the filter."""
    if settings.vmaf_ffmpeg_path:
        if not ffmpeg_has_libvmaf(settings.vmaf_ffmpeg_path):
            raise ConfigError(
                "REELFLOW_VMAF_FFMPEG_PATH: not an ffmpeg with the libvmaf filter "
                "(`ffmpeg -hide_banner -filters` lists no libvmaf); unset it to use "
                "imageio-ffmpeg's static build"
            )
        return settings.vmaf_ffmpeg_path
    try:
        import imageio_ffmpeg

        exe: str = imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError, OSError):  # not installed / no binary for this OS
        return None
    return exe if ffmpeg_has_libvmaf(exe) else None


class QualityError(MediaError):
    """The quality filter ran but printed no score (e.g. an input had no frames)."""


@dataclass(frozen=True)
class QualityScore:
    metric: Metric
    value: float


def measure_quality(
    distorted: Path,
    reference: Path,
    *,
    ffmpeg_vmaf: str | None,
    ffmpeg: str,
    width: int,
    height: int,
    subsample: int = 1,
    threads: int = 0,
) -> QualityScore:
    """Score ``distorted`` against ``reference`` at the reference size ``width`` x ``height``.

    The distorted picture is scaled up (bicubic) to the reference size, as a player would
    show it. ``subsample`` > 1 scores every n-th frame only (VMAF), trading precision for
    time in the ladder analysis. Raises FFmpegError / QualityError.
    """
    if width <= 0 or height <= 0:
        raise QualityError(f"reference size must be positive, got {width}x{height}")
    # Both inputs restart at t=0 and share a pixel format, so frames pair up one to one.
    prep = f"scale={width}:{height}:flags=bicubic,format=yuv420p,setpts=PTS-STARTPTS"

    if ffmpeg_vmaf:
        opts = [f"n_threads={threads}"] if threads else []
        if subsample > 1:
            opts.append(f"n_subsample={subsample}")
        vmaf = "libvmaf" + ("=" + ":".join(opts) if opts else "")
        graph = f"[0:v]{prep}[d];[1:v]{prep}[r];[d][r]{vmaf}"
        stderr = _run_metric(ffmpeg_vmaf, distorted, reference, graph)
        m = _VMAF_RE.findall(stderr)
        if not m:
            raise QualityError(f"libvmaf printed no score for {distorted}")
        return QualityScore("vmaf", float(m[-1]))
    graph = f"[0:v]{prep}[d];[1:v]{prep}[r];[d][r]psnr"
    stderr = _run_metric(ffmpeg, distorted, reference, graph)
    m = _PSNR_RE.findall(stderr)
    if not m:
        raise QualityError(f"psnr printed no score for {distorted}")
    value = float(m[-1])
    return QualityScore("psnr", PSNR_CAP_DB if math.isinf(value) else min(value, PSNR_CAP_DB))


def _run_metric(ffmpeg: str, distorted: Path, reference: Path, graph: str) -> str:
    args = [
        "-i",
        str(distorted),
        "-i",
        str(reference),
        "-filter_complex",
        graph,
        "-an",
        "-f",
        "null",
        "-",
    ]
    return run_ffmpeg(args, ffmpeg=ffmpeg)
