"""Chunked encoding: one decode per chunk feeding every ladder rung, join, verify.

A chunk is decoded once and ``split`` to one scaler + encoder per rung, in one ffmpeg
process (cheaper than one process per rung: see bench/ladder_encode.py). GOPs are closed,
``gop_s`` long and forced on the same timestamps in every rung and every chunk, so the
rungs switch cleanly and the chunks join with stream copy.
"""

from __future__ import annotations

import bisect
import math
import os
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from reelflow.media.chunks import Chunk
from reelflow.media.codecs import encoder_args, gop_args
from reelflow.media.errors import MediaError, ProbeError
from reelflow.media.ffmpeg_run import run_ffmpeg
from reelflow.media.ladder import Ladder, Rung
from reelflow.media.probe import MASTER_INPUT_OPTIONS
from reelflow.media.stderr_tail import stderr_tail

# Listing a rendition's packets reads the whole file: a minute, plus 3 s per content
# minute (a 3-hour feature gets 10 more minutes).
PACKET_LIST_TIMEOUT_S = 60.0
PACKET_LIST_S_PER_S = 0.05
# Tone-map PQ/HLG to SDR BT.709 (zimg for the transfer, Hable for the curve).
TONEMAP_CHAIN = (
    "zscale=t=linear:npl=100,format=gbrpf32le,zscale=p=bt709,"
    "tonemap=tonemap=hable:desat=0,zscale=t=bt709:m=bt709:r=tv"
)


class EncodeError(MediaError, ValueError):
    """Bad encode parameters (empty ladder, non-positive frame rate, no chunk parts)."""


@dataclass(frozen=True)
class EncodeAdaptations:
    """Fixes QC asked for; the output frame rate is always constant (fps filter)."""

    deinterlace: bool = False
    # Clockwise display rotation (MediaInfo.video.rotation). ffmpeg's autorotate applies it
    # while decoding and, unlike an explicit transpose under -noautorotate, also drops the
    # display matrix from the outputs (ffmpeg 5.1 cannot clear it otherwise), so players do
    # not turn the picture a second time. Rungs must be sized from the display size.
    rotation: int = 0
    tonemap: bool = False


def fps_fraction(fps: float) -> Fraction:
    """29.97002997 -> 30000/1001: NTSC-style rates stay exact through the filters."""
    if not math.isfinite(fps) or fps <= 0:
        raise EncodeError(f"frame rate must be positive, got {fps}")
    return Fraction(fps).limit_denominator(1001)


def gop_frames(fps: float, gop_s: float) -> int:
    return max(1, round(float(fps_fraction(fps)) * gop_s))


def chunk_frames(chunk: Chunk, fps: float) -> int:
    """Frames in ``chunk`` at ``fps``; chunk starts on frame boundaries sum exactly."""
    rate = float(fps_fraction(fps))
    return round(chunk.end_s * rate) - round(chunk.start_s * rate)


def _prefilters(adapt: EncodeAdaptations, rate: Fraction) -> list[str]:
    chain: list[str] = []
    if adapt.deinterlace:
        chain.append("bwdif=mode=send_frame:parity=auto:deint=all")
    if adapt.tonemap:
        chain.append(TONEMAP_CHAIN)
    # Chunk-local time from 0 so forced-keyframe times line up across chunks, then CFR.
    chain += ["setpts=PTS-STARTPTS", f"fps={rate.numerator}/{rate.denominator}", "format=yuv420p"]
    return chain


def rung_output_args(rung: Rung, *, gop: int, gop_s: float, preset: str) -> list[str]:
    """Encoder arguments for one rung: capped CRF when the rung has a CRF, else capped
    VBR at its average bitrate; fixed closed GOPs either way."""
    if rung.crf is not None:
        crf = f"{round(rung.crf)}" if rung.codec == "av1" else f"{rung.crf:g}"
        rate = ["-crf", crf]
    else:
        rate = ["-b:v", f"{rung.bitrate_kbps}k"]
    return [
        *encoder_args(rung.codec, preset),
        *rate,
        "-maxrate",
        f"{rung.maxrate_kbps}k",
        "-bufsize",
        f"{rung.bufsize_kbps}k",
        *gop_args(rung.codec, gop=gop, gop_s=gop_s),
    ]


def chunk_path(out_dir: Path, rung: Rung, chunk: Chunk) -> Path:
    return out_dir / f"{rung.name}.{chunk.index:05d}.mp4"


def encode_chunk(
    src: Path,
    chunk: Chunk,
    ladder: Ladder | Sequence[Rung],
    out_dir: Path,
    *,
    ffmpeg: str,
    fps: float,
    gop_s: float = 2.0,
    adaptations: EncodeAdaptations | None = None,
    on_progress: Callable[[float], None] | None = None,
    preset: str = "veryfast",
    timeout_s: float | None = None,
) -> dict[str, Path]:
    """Encode ``chunk`` of ``src`` to every rung in one ffmpeg process.

    Returns rung name -> video-only MP4 of this chunk. Each output holds exactly
    ``chunk_frames(chunk, fps)`` frames (fewer only if the source ends first), so the
    chunks of a title add up to the title's frame count. Outputs are written under
    temporary names and renamed when ffmpeg succeeds: a crash leaves no final-named
    partial file.
    """
    rungs = tuple(ladder.rungs if isinstance(ladder, Ladder) else ladder)
    if not rungs:
        raise EncodeError("ladder has no rungs")
    if len({r.name for r in rungs}) != len(rungs):
        raise EncodeError("rung names must be unique")
    if gop_s <= 0:
        raise EncodeError(f"GOP length must be positive, got {gop_s}")
    rate = fps_fraction(fps)
    adapt = adaptations or EncodeAdaptations()
    out_dir.mkdir(parents=True, exist_ok=True)
    frames = chunk_frames(chunk, fps)
    gop = gop_frames(fps, gop_s)
    # Seek half a frame early: the frame exactly at start_s is kept despite float rounding,
    # the one before it is not.
    seek = max(0.0, chunk.start_s - 0.5 / float(rate))
    read_s = chunk.end_s - seek + 1.0 / float(rate)

    labels = [f"[v{i}]" for i in range(len(rungs))]
    graph = [
        f"[0:v:0]{','.join(_prefilters(adapt, rate))},split={len(rungs)}"
        + "".join(f"[s{i}]" for i in range(len(rungs)))
    ]
    for i, rung in enumerate(rungs):
        graph.append(f"[s{i}]scale={rung.width}:{rung.height}:flags=bicubic,setsar=1{labels[i]}")
    args = [*MASTER_INPUT_OPTIONS, "-ss", f"{seek:.6f}", "-t", f"{read_s:.6f}", "-i", str(src)]
    args += ["-filter_complex", ";".join(graph)]
    finals: dict[str, Path] = {}
    temps: list[tuple[Path, Path]] = []
    for label, rung in zip(labels, rungs, strict=True):
        final = chunk_path(out_dir, rung, chunk)
        tmp = final.with_name(f".{final.stem}.{os.getpid()}.tmp.mp4")
        args += ["-map", label, "-an", "-sn", "-dn", "-frames:v", str(frames)]
        args += rung_output_args(rung, gop=gop, gop_s=gop_s, preset=preset)
        args += ["-y", str(tmp)]
        finals[rung.name] = final
        temps.append((tmp, final))
    try:
        run_ffmpeg(
            args,
            ffmpeg=ffmpeg,
            duration_s=chunk.duration_s,
            on_progress=on_progress,
            timeout_s=timeout_s,
        )
    except BaseException:
        for tmp, _ in temps:
            tmp.unlink(missing_ok=True)
        raise
    for tmp, final in temps:
        os.replace(tmp, final)
    return finals


def join_chunks(
    parts: Sequence[Path],
    out: Path,
    *,
    ffmpeg: str,
    duration_s: float | None = None,
    on_progress: Callable[[float], None] | None = None,
) -> Path:
    """Concatenate chunk files of one rung with stream copy (concat demuxer).

    With ``duration_s`` and ``on_progress``, reports the fraction of the title joined
    (a 2-hour rung is minutes of copying that no chunk encode's progress covers).
    """
    if not parts:
        raise EncodeError("no chunk parts to join")
    out.parent.mkdir(parents=True, exist_ok=True)
    listing = out.with_name(f".{out.name}.{os.getpid()}.concat.txt")
    tmp = out.with_name(f".{out.stem}.{os.getpid()}.tmp{out.suffix}")
    lines = []
    for p in parts:
        escaped = str(Path(p).resolve()).replace("'", "'\\''")
        lines.append(f"file '{escaped}'")
    listing.write_text("\n".join(lines) + "\n")
    try:
        run_ffmpeg(
            [
                "-f",
                "concat",
                "-safe",
                "0",
                "-i",
                str(listing),
                "-map",
                "0",
                "-c",
                "copy",
                "-movflags",
                "+faststart",
                "-y",
                str(tmp),
            ],
            ffmpeg=ffmpeg,
            duration_s=duration_s,
            on_progress=on_progress,
        )
        os.replace(tmp, out)
    finally:
        listing.unlink(missing_ok=True)
        tmp.unlink(missing_ok=True)
    return out


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
    frames = 0
    first_pts = math.inf
    last_end = -math.inf
    keys: list[float] = []
    for pts_time, duration_time, flags in _video_packets(
        path, ffprobe=ffprobe, timeout_s=_packet_timeout_s(expected_duration_s)
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
    n_gops = math.ceil(duration / gop_s - 1e-6) if duration > 0 else 0
    # Forced keyframes land on the first frame at or after each GOP time: look for a key in
    # [gop - frame/2, gop + frame) by bisection (a scan per GOP is quadratic in the length).
    missing = []
    for k in range(n_gops):
        at = k * gop_s
        i = bisect.bisect_left(rel_keys, at - frame_s / 2)
        if i == len(rel_keys) or rel_keys[i] - at >= frame_s:
            missing.append(at)
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


def _packet_timeout_s(duration_s: float) -> float:
    # Listing packets reads the whole file: allow for a feature, not only a clip.
    return PACKET_LIST_TIMEOUT_S + max(0.0, duration_s) * PACKET_LIST_S_PER_S


def _video_packets(path: Path, *, ffprobe: str, timeout_s: float) -> Iterator[tuple[str, str, str]]:
    """(pts_time, duration_time, flags) of each packet of the first video stream, streamed
    from ``ffprobe -show_entries packet=...``; raises ProbeError like run_ffprobe_json."""
    cmd = [ffprobe, "-hide_banner", "-v", "error", "-select_streams", "v:0"]
    cmd += ["-show_entries", "packet=pts_time,duration_time,flags", "-of", "compact=p=0"]
    cmd += [str(path)]
    timed_out = threading.Event()
    with tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err
            )
        except FileNotFoundError:
            raise ProbeError(f"ffprobe (packets): binary not found: {ffprobe}") from None

        def kill() -> None:
            timed_out.set()
            proc.kill()

        timer = threading.Timer(timeout_s, kill)
        timer.daemon = True
        timer.start()
        try:
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
        finally:
            timer.cancel()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
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
