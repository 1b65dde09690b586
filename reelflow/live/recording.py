"""A channel's recording: the encoder's whole output kept as MPEG-TS beside the live
packages, and its remux into one MP4 per rung (stream copy, seconds for hours) that the
VOD packaging path takes as renditions when the channel goes on demand.

A pipeline that restarts (another attempt on this host) starts a new part; parts are named
by their start time, so they sort in order.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from reelflow.live.realtime_encode import LiveRung

RECORDINGS_DIR = "recordings"


class RecordingError(RuntimeError):
    """The recording could not be remuxed; the message names the rung."""


@dataclass(frozen=True)
class RecordedRendition:
    name: str  # the rung's name (v240, ...) or "audio"
    path: Path


def new_recording_path(out: Path) -> Path:
    folder = out / RECORDINGS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{time.time_ns()}.ts"


def recording_parts(out: Path) -> list[Path]:
    folder = out / RECORDINGS_DIR
    return sorted(folder.glob("*.ts"), key=lambda p: int(p.stem)) if folder.is_dir() else []


def remux_recording(
    ffmpeg: str, recording: Path, rungs: Sequence[LiveRung], dest: Path
) -> list[RecordedRendition]:
    """One MP4 per rung and one for the sound, stream-copied from the recording."""
    dest.mkdir(parents=True, exist_ok=True)
    jobs = [(rung.name, f"0:v:{i}") for i, rung in enumerate(rungs)] + [("audio", "0:a:0")]
    out = []
    for name, stream in jobs:
        path = dest / f"{name}.mp4"
        run = subprocess.run(
            [ffmpeg, "-hide_banner", "-nostdin", "-v", "error", "-y", "-i", str(recording),
             "-map", stream, "-c", "copy", "-movflags", "+faststart", str(path)],
            capture_output=True, text=True, timeout=3600,
        )  # fmt: skip
        if run.returncode != 0:
            raise RecordingError(f"remuxing {name} failed: {run.stderr.strip()[-300:]}")
        out.append(RecordedRendition(name, path))
    return out


def probe_duration_s(ffprobe: str, path: Path) -> float:
    run = subprocess.run(
        [ffprobe, "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    try:
        return float(run.stdout.strip())
    except ValueError:
        raise RecordingError(f"no duration for {path.name}") from None
