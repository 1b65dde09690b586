"""Generated test titles from ffmpeg's lavfi sources: the demo, tests and benchmarks use them."""

from __future__ import annotations

import subprocess
from pathlib import Path


def make_test_title(
    path: Path,
    *,
    ffmpeg: str,
    seconds: float,
    size: str = "1280x720",
    rate: int = 24,
    tone: str | None = "frequency=440",
    audio_filter: str | None = None,
    audio_bitrate: str = "128k",
    video_args: tuple[str, ...] = ("-preset", "veryfast", "-crf", "18"),
) -> Path:
    """testsrc2 (moving picture) plus a sine ``tone`` (None: no audio), H.264/AAC in MP4.

    Written under a temporary name and renamed, so a half-written file never passes for a
    finished one.
    """
    args = _picture_input(ffmpeg, size=size, rate=rate, seconds=seconds)
    if tone is not None:
        args += ["-f", "lavfi", "-i", f"sine={tone}:sample_rate=48000:duration={seconds}"]
        if audio_filter:
            args += ["-af", audio_filter]
        args += ["-c:a", "aac", "-b:a", audio_bitrate, "-ar", "48000"]
    args += ["-c:v", "libx264", *video_args, "-pix_fmt", "yuv420p"]
    return _write_renamed(path, args)


def _picture_input(ffmpeg: str, *, size: str, rate: int, seconds: float) -> list[str]:
    """The command's head: ffmpeg, quiet and overwriting, with testsrc2 as input 0."""
    return [
        ffmpeg, "-hide_banner", "-loglevel", "error", "-y",
        "-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate}:duration={seconds}",
    ]  # fmt: skip


def _write_renamed(path: Path, args: list[str]) -> Path:
    """Run ``args`` with a temporary output name next to ``path``, then rename it: a
    half-written file never passes for a finished one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    subprocess.run([*args, str(tmp)], check=True)
    tmp.replace(path)
    return path


# 5.1 in SMPTE order (L R C LFE Ls Rs); one tone per channel so a downmix is not silence.
_SURROUND_TONES = (440, 554, 659, 110, 330, 392)


def make_long_master(
    path: Path,
    *,
    ffmpeg: str,
    seconds: float,
    size: str = "320x180",
    rate: int = 5,
    channels: int = 6,
    sample_fmt: str = "pcm_s24le",
    volume_db: float = -9.0,
    gop_s: float = 1.0,
) -> Path:
    """A feature-shaped master that is cheap to make: a small picture at a low frame rate
    (MPEG-2 4:2:2 intra-ish, as XDCAM deliveries are) with uncompressed multichannel PCM
    (5.1 at 24 bit 48 kHz is about 3.1 GB an hour), in MOV.

    The bytes on disk are a real delivery's (ingest, hashing, copies and demuxing scale
    with them) while the decode and encode cost stays small. At ``volume_db`` -9 the
    tones measure about -23 LUFS (QC passes without a loudness warning).
    """
    if seconds <= 0:
        raise ValueError(f"seconds must be positive, got {seconds}")
    if not 1 <= channels <= len(_SURROUND_TONES):
        raise ValueError(f"channels must be 1..{len(_SURROUND_TONES)}, got {channels}")
    layout = {1: "mono", 2: "stereo", 6: "5.1"}.get(channels, f"{channels}c")
    args = _picture_input(ffmpeg, size=size, rate=rate, seconds=seconds)
    for freq in _SURROUND_TONES[:channels]:
        args += ["-f", "lavfi", "-i", f"sine=frequency={freq}:sample_rate=48000:duration={seconds}"]
    inputs = "".join(f"[{i + 1}:a]" for i in range(channels))
    graph = (
        f"{inputs}join=inputs={channels}:channel_layout={layout},volume={volume_db}dB[a]"
        if channels > 1
        else f"[1:a]volume={volume_db}dB[a]"
    )
    args += ["-filter_complex", graph, "-map", "0:v", "-map", "[a]"]
    args += ["-c:v", "mpeg2video", "-q:v", "2", "-g", str(max(1, round(rate * gop_s)))]
    args += ["-pix_fmt", "yuv422p", "-c:a", sample_fmt, "-f", "mov"]
    return _write_renamed(path, args)


def write_long_subtitles(
    path: Path, *, seconds: float, every_s: float = 30.0, cue_s: float = 2.5
) -> int:
    """An SRT with a cue every ``every_s`` seconds up to the end of a ``seconds`` long
    title (the last one starts ``every_s`` before the end at the latest); returns the cue
    count. Cue text carries its own start time, so a test can find a given cue."""
    from reelflow.media.subtitles import format_timestamp

    def srt(t: float) -> str:
        return format_timestamp(t).replace(".", ",")

    blocks = []
    start, n = every_s / 2, 0
    while start + cue_s <= seconds:
        n += 1
        blocks.append(f"{n}\n{srt(start)} --> {srt(start + cue_s)}\nCue {n} at {srt(start)}\n")
        start += every_s
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(blocks))
    return n
