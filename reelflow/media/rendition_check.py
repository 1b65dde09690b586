"""Checking an encoded rendition: frame count and duration within one frame of what was
asked, and a keyframe at every GOP start, read from the packet list without decoding."""

from __future__ import annotations

import bisect
import math
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from reelflow.media.encode import fps_fraction
from reelflow.media.errors import ProbeError
from reelflow.media.stderr_tail import stderr_tail
from reelflow.media.watchdog import killed_after, spawn

# Listing a rendition's packets reads the whole file: a minute, plus 3 s per content
# minute (a 3-hour feature gets 10 more minutes).
PACKET_LIST_TIMEOUT_S = 60.0
PACKET_LIST_S_PER_S = 0.05


@dataclass(frozen=True)
class RenditionCheck:
    path: Path
    frames: int
    duration_s: float
    keyframe_times: tuple[float, ...]
    problems: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_rendition(
    path: Path,
    *,
    ffprobe: str,
    expected_duration_s: float,
    expected_frames: int,
    gop_s: float,
    fps: float,
) -> RenditionCheck:
    """Check frame count and duration (within one frame) and a keyframe on every GOP.

    The packet list is read as ffprobe prints it, one line at a time, keeping only
    counters and the keyframe times (one per GOP): a feature's rendition has hundreds of
    thousands of packets, which as one JSON document cost more memory than the rest of
    the worker.
    """
    frame_s = 1.0 / float(fps_fraction(fps))
    frames, first_pts, last_end, keys = _scan_packets(
        path, ffprobe=ffprobe, timeout_s=_packet_timeout_s(expected_duration_s), frame_s=frame_s
    )
    problems: list[str] = []
    duration = (last_end - first_pts) if frames else 0.0
    if abs(frames - expected_frames) > 1:
        problems.append(f"frame count {frames}, expected {expected_frames} (+-1)")
    if abs(duration - expected_duration_s) > frame_s + 1e-3:
        problems.append(
            f"duration {duration:.3f} s, expected {expected_duration_s:.3f} s (+-1 frame)"
        )
    origin = first_pts if frames else 0.0
    rel_keys = sorted(k - origin for k in keys)
    missing = _missing_gop_starts(rel_keys, duration, gop_s=gop_s, frame_s=frame_s)
    if missing:
        shown = ", ".join(f"{t:g}" for t in missing[:5])
        problems.append(f"no keyframe at GOP start(s) {shown} s")
    return RenditionCheck(
        path=path,
        frames=frames,
        duration_s=round(duration, 6),
        keyframe_times=tuple(round(k, 6) for k in rel_keys),
        problems=tuple(problems),
    )


def _scan_packets(
    path: Path, *, ffprobe: str, timeout_s: float, frame_s: float
) -> tuple[int, float, float, list[float]]:
    """Frame count, first PTS, last end time and keyframe times of the video packets."""
    frames = 0
    first_pts = math.inf
    last_end = -math.inf
    keys: list[float] = []
    for pts_time, duration_time, flags in _video_packets(
        path, ffprobe=ffprobe, timeout_s=timeout_s
    ):
        try:
            t = float(pts_time)
        except ValueError:
            continue
        if not math.isfinite(t):
            continue
        frames += 1
        first_pts = min(first_pts, t)
        last_end = max(last_end, t + _float_or(duration_time, frame_s))
        if "K" in flags:
            keys.append(t)
    return frames, first_pts, last_end, keys


def _missing_gop_starts(
    rel_keys: Sequence[float], duration: float, *, gop_s: float, frame_s: float
) -> list[float]:
    """GOP start times with no keyframe. Forced keyframes land on the first frame at or
    after each GOP time: look for a key in [gop - frame/2, gop + frame) by bisection (a
    scan per GOP is quadratic in the length)."""
    n_gops = math.ceil(duration / gop_s - 1e-6) if duration > 0 else 0
    missing = []
    for k in range(n_gops):
        at = k * gop_s
        i = bisect.bisect_left(rel_keys, at - frame_s / 2)
        if i == len(rel_keys) or rel_keys[i] - at >= frame_s:
            missing.append(at)
    return missing


def _packet_timeout_s(duration_s: float) -> float:
    # Listing packets reads the whole file: allow for a feature, not only a clip.
    return PACKET_LIST_TIMEOUT_S + max(0.0, duration_s) * PACKET_LIST_S_PER_S


def _video_packets(path: Path, *, ffprobe: str, timeout_s: float) -> Iterator[tuple[str, str, str]]:
    """(pts_time, duration_time, flags) of each packet of the first video stream, streamed
    from ``ffprobe -show_entries packet=...``; raises ProbeError like run_ffprobe_json."""
    cmd = [ffprobe, "-hide_banner", "-v", "error", "-select_streams", "v:0"]
    cmd += ["-show_entries", "packet=pts_time,duration_time,flags", "-of", "compact=p=0"]
    cmd += [str(path)]
    with tempfile.TemporaryFile() as err:
        not_found = ProbeError(f"ffprobe (packets): binary not found: {ffprobe}")
        proc = spawn(cmd, stdout=subprocess.PIPE, stderr=err, not_found=not_found)
        with killed_after(proc, timeout_s) as timed_out:
            assert proc.stdout is not None
            for raw in proc.stdout:
                line = raw.decode("ascii", "replace").strip()
                fields = dict(kv.partition("=")[::2] for kv in line.split("|"))
                yield (
                    fields.get("pts_time", ""),
                    fields.get("duration_time", ""),
                    fields.get("flags", ""),
                )
            code = proc.wait()
        if timed_out.is_set():
            raise ProbeError(f"ffprobe (packets) timed out after {timeout_s:g} s")
        if code != 0:
            err.seek(0)
            tail = stderr_tail(err.read().decode("utf-8", "replace"), lines=5)
            raise ProbeError(tail or f"ffprobe (packets) exited with code {code}")


def _float_or(value: object, default: float) -> float:
    try:
        f = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return default
    return f if math.isfinite(f) else default
