"""Session-cached test clips generated with ffmpeg lavfi sources (tiny, a few seconds)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from reelflow.config import get_settings

ClipMaker = Callable[[str], Path]

# name -> ffmpeg arguments after "-y" (output file name appended by the factory).
_X264 = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
_TESTSRC = "testsrc2=s=320x240:r=25"
_CLIPS: dict[str, tuple[str, list[str]]] = {
    # testsrc2 + a 440 Hz sine turned down to about -23 LUFS: every check passes.
    "clean": (
        "mp4",
        [
            *("-f", "lavfi", "-i", f"{_TESTSRC}:d=4"),
            *("-f", "lavfi", "-i", "sine=f=440:d=4,volume=-1.2dB"),
            *_X264,
            *("-c:a", "aac", "-shortest"),
        ],
    ),
    "loud": (
        "mp4",
        [
            *("-f", "lavfi", "-i", f"{_TESTSRC}:d=3"),
            *("-f", "lavfi", "-i", "sine=f=440:d=3,volume=10dB"),
            *_X264,
            *("-c:a", "aac", "-shortest"),
        ],
    ),
    # 7 s of digital silence next to the picture.
    "silent": (
        "mp4",
        [
            *("-f", "lavfi", "-i", f"{_TESTSRC}:d=7"),
            *("-f", "lavfi", "-i", "anullsrc=r=48000:cl=stereo:d=7"),
            *_X264,
            *("-c:a", "aac", "-shortest"),
        ],
    ),
    # 2 s black, 3 s picture, 1 s black; audio throughout.
    "black_edges": (
        "mp4",
        [
            *("-f", "lavfi", "-i", "color=black:s=320x240:r=25:d=2"),
            *("-f", "lavfi", "-i", f"{_TESTSRC}:d=3"),
            *("-f", "lavfi", "-i", "color=black:s=320x240:r=25:d=1"),
            *("-f", "lavfi", "-i", "sine=f=440:d=6,volume=-1.2dB"),
            *("-filter_complex", "[0][1][2]concat=n=3:v=1:a=0[v]"),
            *("-map", "[v]", "-map", "3:a"),
            *_X264,
            *("-c:a", "aac", "-shortest"),
        ],
    ),
    "interlaced": (
        "mp4",
        [
            *("-f", "lavfi", "-i", "testsrc2=s=320x240:r=50:d=3"),
            *("-vf", "tinterlace=interleave_top,fieldorder=tff"),
            *("-flags", "+ilme+ildct"),
            *_X264,
        ],
    ),
    # Frame times jitter by 0-30 ms around a 25 fps grid.
    "vfr": (
        "mp4",
        [
            *("-f", "lavfi", "-i", f"{_TESTSRC}:d=3"),
            *("-vf", "settb=1/1000,setpts='(N/25+0.015*mod(N\\,3))/TB'"),
            *("-fps_mode", "passthrough"),
            *_X264,
        ],
    ),
    # Constant 24 fps, lossless x264 with FLAC as a studio delivers it, in three containers:
    # Matroska stores milliseconds (frames at 0, 42, 83 ms), MP4 and MOV a fine time base.
    **{
        f"cfr24_{ext}": (
            ext,
            [
                *("-f", "lavfi", "-i", "testsrc2=s=320x240:r=24:d=3"),
                *("-f", "lavfi", "-i", "sine=f=440:d=3,volume=-1.2dB"),
                *("-c:v", "libx264", "-preset", "ultrafast", "-qp", "0", "-pix_fmt", "yuv420p"),
                *("-c:a", "flac" if ext == "mkv" else "aac", "-shortest"),
            ],
        )
        for ext in ("mkv", "mp4", "mov")
    },
    # About one frame in eight dropped at random (seeded), timestamps kept, in Matroska.
    "vfr_drops_mkv": (
        "mkv",
        [
            *("-f", "lavfi", "-i", "testsrc2=s=320x240:r=24:d=3"),
            *("-vf", "select='gte(random(7)\\,0.12)'"),
            *("-fps_mode", "passthrough"),
            *_X264,
        ],
    ),
    # A 24 fps part spliced to a 30 fps part, as a careless edit delivers it.
    "vfr_24_30_mkv": (
        "mkv",
        [
            *("-f", "lavfi", "-i", "testsrc2=s=320x240:r=24:d=2"),
            *("-f", "lavfi", "-i", "testsrc2=s=320x240:r=30:d=2"),
            *("-filter_complex", "[0][1]concat=n=2:v=1:a=0[v]", "-map", "[v]"),
            *("-fps_mode", "passthrough"),
            *_X264,
        ],
    ),
    "video_only": ("mp4", ["-f", "lavfi", "-i", f"{_TESTSRC}:d=4", *_X264]),
    "tiny": (
        "mp4",
        ["-f", "lavfi", "-i", "testsrc2=s=16x16:r=25:d=1", *_X264],
    ),
    "huge": (
        "mp4",
        ["-f", "lavfi", "-i", "color=gray:s=8000x200:r=1:d=1", *_X264],
    ),
    "rgb": ("mkv", ["-f", "lavfi", "-i", f"{_TESTSRC}:d=1", "-c:v", "ffv1", "-pix_fmt", "bgr0"]),
    "audio_only": ("m4a", ["-f", "lavfi", "-i", "sine=f=440:d=3", "-c:a", "aac"]),
    "image": ("png", ["-f", "lavfi", "-i", "testsrc2=s=320x240", "-frames:v", "1"]),
    "long_gop": (
        "mp4",
        [
            *("-f", "lavfi", "-i", f"{_TESTSRC}:d=10"),
            *_X264,
            *("-g", "50"),
        ],
    ),
}

# Clips derived from another clip by a stream copy with extra arguments.
_DERIVED: dict[str, tuple[str, str, list[str]]] = {
    "rotated": ("clean", "mp4", ["-c", "copy", "-metadata:s:v:0", "rotate=90"]),
    "hdr": (
        "clean",
        "mp4",
        [
            *("-c", "copy", "-bsf:v"),
            "h264_metadata=transfer_characteristics=16:colour_primaries=9:matrix_coefficients=9",
        ],
    ),
    "faststart": ("clean", "mp4", ["-c", "copy", "-movflags", "+faststart"]),
}


@pytest.fixture(scope="session")
def ffmpeg() -> str:
    return get_settings().binary("ffmpeg")


@pytest.fixture(scope="session")
def ffprobe() -> str:
    return get_settings().binary("ffprobe")


@pytest.fixture(scope="session")
def clip(tmp_path_factory: pytest.TempPathFactory, ffmpeg: str) -> ClipMaker:
    """``clip(name)`` generates a named test clip once per session and returns its path."""
    root = tmp_path_factory.mktemp("media_clips")
    made: dict[str, Path] = {}

    def make(name: str) -> Path:
        if name in made:
            return made[name]
        if name in _DERIVED:
            base, ext, extra = _DERIVED[name]
            args = ["-i", str(make(base)), *extra]
        else:
            ext, args = _CLIPS[name]
        out = root / f"{name}.{ext}"
        cmd = [ffmpeg, "-hide_banner", "-nostdin", "-v", "error", "-y", *args, str(out)]
        subprocess.run(cmd, check=True, capture_output=True)
        made[name] = out
        return out

    return make
