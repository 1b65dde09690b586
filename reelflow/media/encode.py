"""Chunked encoding: one decode per chunk feeding every ladder rung, and the join.

A chunk is decoded once and ``split`` to one scaler + encoder per rung, in one ffmpeg
process (cheaper than one process per rung: see bench/ladder_encode.py). GOPs are closed,
``gop_s`` long and forced on the same timestamps in every rung and every chunk, so the
rungs switch cleanly and the chunks join with stream copy. Each rendition is then checked
by ``reelflow.media.rendition_check``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from reelflow.domain.ladders import Ladder, Rung
from reelflow.media.chunks import Chunk
from reelflow.media.codecs import encoder_args, gop_args
from reelflow.media.errors import MediaError
from reelflow.media.ffmpeg_run import run_ffmpeg
from reelflow.media.probe import MASTER_INPUT_OPTIONS

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
    rungs = _checked_rungs(ladder, gop_s)
    rate = fps_fraction(fps)
    adapt = adaptations or EncodeAdaptations()
    out_dir.mkdir(parents=True, exist_ok=True)
    args, temps = _chunk_command(src, chunk, rungs, out_dir, fps, rate, gop_s, adapt, preset)
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
    return {rung.name: final for rung, (_, final) in zip(rungs, temps, strict=True)}


def _checked_rungs(ladder: Ladder | Sequence[Rung], gop_s: float) -> tuple[Rung, ...]:
    rungs = tuple(ladder.rungs if isinstance(ladder, Ladder) else ladder)
    if not rungs:
        raise EncodeError("ladder has no rungs")
    if len({r.name for r in rungs}) != len(rungs):
        raise EncodeError("rung names must be unique")
    if gop_s <= 0:
        raise EncodeError(f"GOP length must be positive, got {gop_s}")
    return rungs


def _chunk_command(
    src: Path,
    chunk: Chunk,
    rungs: Sequence[Rung],
    out_dir: Path,
    fps: float,
    rate: Fraction,
    gop_s: float,
    adapt: EncodeAdaptations,
    preset: str,
) -> tuple[list[str], list[tuple[Path, Path]]]:
    """The ffmpeg arguments (decode once, split, one scaled output per rung) and each
    rung's (temporary, final) output path, in rung order."""
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
    temps: list[tuple[Path, Path]] = []
    for label, rung in zip(labels, rungs, strict=True):
        final = chunk_path(out_dir, rung, chunk)
        tmp = final.with_name(f".{final.stem}.{os.getpid()}.tmp.mp4")
        args += ["-map", label, "-an", "-sn", "-dn", "-frames:v", str(frames)]
        args += rung_output_args(rung, gop=gop, gop_s=gop_s, preset=preset)
        args += ["-y", str(tmp)]
        temps.append((tmp, final))
    return args, temps


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
