"""Audio renditions: AAC-LC stereo per language, plus 5.1 when the source has it.

Each track is its own ffmpeg process, run side by side (up to ``max_parallel``): ffmpeg 5.1
encodes the outputs of one process one after another in one thread, and AAC is
single-threaded, so a feature's stereo + 5.1 took the sum of both on one core while the
other sat idle. Demuxing the master once per track costs far less than the encode. Each
output is an audio-only MP4 the packager takes as its own stream.
"""

from __future__ import annotations

import contextvars
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from reelflow.media.errors import MediaError
from reelflow.media.ffmpeg_run import run_ffmpeg
from reelflow.media.probe import MASTER_INPUT_OPTIONS, AudioStream, MediaInfo

STEREO_KBPS = 128
SURROUND_KBPS = 384
SAMPLE_RATE = 48000
TRUE_PEAK_DBTP = -1.0
LOUDNESS_RANGE_LU = 11.0


class AudioError(MediaError, ValueError):
    """The source has no audio to encode, or the parameters are invalid."""


@dataclass(frozen=True)
class AudioTrack:
    path: Path
    language: str
    channels: int
    codec: str
    bitrate_kbps: int
    source_index: int
    normalized: bool


def _language(stream: AudioStream) -> str:
    lang = (stream.language or "").strip().lower()
    return lang or "und"


def select_streams(info: MediaInfo) -> list[AudioStream]:
    """One source stream per language: the first, preferring the one with most channels."""
    chosen: dict[str, AudioStream] = {}
    for s in info.audio:
        lang = _language(s)
        if lang not in chosen or s.channels > chosen[lang].channels:
            chosen[lang] = s
    return list(chosen.values())


def _filters(normalize: bool, target_lufs: float, layout: str) -> str:
    chain = []
    if normalize:
        # Single-pass loudnorm: close enough for a QC-warned title, and it keeps the
        # one-process design. It resamples to 192 kHz internally, hence the aresample.
        chain.append(f"loudnorm=I={target_lufs:g}:TP={TRUE_PEAK_DBTP:g}:LRA={LOUDNESS_RANGE_LU:g}")
    chain += [f"aresample={SAMPLE_RATE}", f"aformat=channel_layouts={layout}"]
    return ",".join(chain)


_Job = tuple[list[str], Path, AudioTrack]  # ffmpeg arguments, temporary file, the track


def _variants(stream: AudioStream) -> list[tuple[int, str, int]]:
    """(channels, layout, kb/s): stereo always, 5.1 too from a source with 6+ channels."""
    variants = [(2, "stereo", STEREO_KBPS)]
    if stream.channels >= 6:
        variants.append((6, "5.1", SURROUND_KBPS))
    return variants


def _job(
    src: Path,
    stream: AudioStream,
    variant: tuple[int, str, int],
    out_dir: Path,
    *,
    normalize: bool,
    target_lufs: float,
) -> _Job:
    channels, layout, kbps = variant
    lang = _language(stream)
    name = f"audio_{lang}_{'stereo' if channels == 2 else '51'}.mp4"
    final = out_dir / name
    tmp = final.with_name(f".{final.stem}.{os.getpid()}.tmp.mp4")
    args = [*MASTER_INPUT_OPTIONS, "-i", str(src)]
    args += ["-map", f"0:{stream.index}", "-vn", "-sn", "-dn"]
    args += ["-af", _filters(normalize, target_lufs, layout)]
    args += ["-c:a", "aac", "-profile:a", "aac_low", "-b:a", f"{kbps}k"]
    args += ["-ac", str(channels), "-metadata:s:a:0", f"language={lang}"]
    args += ["-movflags", "+faststart", "-y", str(tmp)]
    track = AudioTrack(
        path=final,
        language=lang,
        channels=channels,
        codec="aac",
        bitrate_kbps=kbps,
        source_index=stream.index,
        normalized=normalize,
    )
    return args, tmp, track


def encode_audio(
    src: Path,
    out_dir: Path,
    *,
    ffmpeg: str,
    info: MediaInfo,
    normalize: bool,
    target_lufs: float = -23.0,
    timeout_s: float | None = None,
    max_parallel: int | None = None,
) -> list[AudioTrack]:
    """Encode the audio tracks of ``src`` into ``out_dir``; raises AudioError if none.

    ``max_parallel`` bounds the ffmpeg processes at once (default: the machine's cores)."""
    if not info.audio:
        raise AudioError(f"{src}: no audio stream to encode")
    if not -70.0 <= target_lufs <= -5.0:
        raise AudioError(f"target loudness {target_lufs} LUFS is outside -70..-5")
    out_dir.mkdir(parents=True, exist_ok=True)
    jobs = [
        _job(src, stream, variant, out_dir, normalize=normalize, target_lufs=target_lufs)
        for stream in select_streams(info)
        for variant in _variants(stream)
    ]

    def run(args: list[str], step: str) -> str:
        return run_ffmpeg(args, ffmpeg=ffmpeg, timeout_s=timeout_s, step=step)

    workers = max(1, min(len(jobs), max_parallel or os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="audio") as pool:
        # Each thread carries the caller's context: the activity's stall limits watch it.
        futures = [
            pool.submit(contextvars.copy_context().run, run, args, t.path.stem)
            for args, _, t in jobs
        ]
        errors = [f.exception() for f in futures]
    failed = next((e for e in errors if e is not None), None)
    if failed is not None:
        for _, tmp, _ in jobs:
            tmp.unlink(missing_ok=True)
        raise failed
    for _, tmp, track in jobs:
        os.replace(tmp, track.path)
    return [track for _, _, track in jobs]
