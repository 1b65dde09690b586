"""Session-cached lavfi clips for the ladder / encode / audio / quality tests.

Imported by those test modules (tests/media/conftest.py belongs to the probe/QC tests).
Clips are generated on first use only, so running one test file makes only its clips.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from reelflow.config import get_settings
from reelflow.media.quality import vmaf_ffmpeg

FFMPEG = get_settings().binary("ffmpeg")
FFPROBE = get_settings().binary("ffprobe")
VMAF_FFMPEG = vmaf_ffmpeg(get_settings())

_X264 = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
_HQ = [*_X264, "-crf", "8"]

# name -> ffmpeg arguments (without the output path)
RECIPES: dict[str, list[str]] = {
    # Low complexity: a still card with a small moving counter.
    "low": ["-f", "lavfi", "-i", "testsrc=s=640x360:r=25:d=6", *_HQ],
    # High complexity: full-frame temporal noise over moving content.
    "high": [
        "-f",
        "lavfi",
        "-i",
        "testsrc2=s=640x360:r=25:d=6,noise=alls=40:allf=t+u",
        *_HQ,
    ],
    # Encode source: 8 s at 25 fps = 200 frames, with stereo audio.
    "enc": [
        "-f",
        "lavfi",
        "-i",
        "testsrc2=s=640x360:r=25:d=8",
        "-f",
        "lavfi",
        "-i",
        "sine=f=440:d=8:sample_rate=48000",
        *_X264,
        "-c:a",
        "aac",
        "-ac",
        "2",
        "-shortest",
    ],
    # Coded 320x180; "rotated" is this with a display matrix (see Clips.rotated).
    "landscape": ["-f", "lavfi", "-i", "testsrc2=s=320x180:r=25:d=2", *_X264],
    # Interlaced-flagged source (tff) for the deinterlace adaptation.
    "interlaced": [
        "-f",
        "lavfi",
        "-i",
        "testsrc2=s=320x180:r=25:d=2",
        "-vf",
        "setfield=tff",
        *_X264,
        "-flags",
        "+ildct+ilme",
        "-x264-params",
        "tff=1",
    ],
    # Variable frame rate: 25 fps with every 5th frame dropped, timestamps kept.
    "vfr": [
        "-f",
        "lavfi",
        "-i",
        "testsrc2=s=320x180:r=25:d=4",
        "-vf",
        "select='not(eq(mod(n,5),4))'",
        *_X264,
        "-fps_mode",
        "vfr",
    ],
    # Two audio languages, English in 5.1 (quiet) and French stereo.
    "multiaudio": [
        "-f",
        "lavfi",
        "-i",
        "testsrc2=s=320x180:r=25:d=3",
        "-f",
        "lavfi",
        "-i",
        "sine=f=300:d=3:sample_rate=48000,volume=-30dB,aformat=channel_layouts=5.1",
        "-f",
        "lavfi",
        "-i",
        "sine=f=500:d=3:sample_rate=44100,aformat=channel_layouts=stereo",
        "-map",
        "0:v",
        "-map",
        "1:a",
        "-map",
        "2:a",
        *_X264,
        "-c:a",
        "aac",
        "-metadata:s:a:0",
        "language=eng",
        "-metadata:s:a:1",
        "language=fra",
    ],
}


class Clips:
    def __init__(self, root: Path) -> None:
        self.root = root

    def __getitem__(self, name: str) -> Path:
        out = self.root / f"{name}.mp4"
        if not out.exists():
            tmp = self.root / f".{name}.tmp.mp4"
            subprocess.run(
                [
                    FFMPEG,
                    "-hide_banner",
                    "-loglevel",
                    "error",
                    "-nostdin",
                    "-y",
                    *RECIPES[name],
                    str(tmp),
                ],
                check=True,
            )
            shutil.move(tmp, out)
        return out

    def rotated(self) -> Path:
        """``landscape`` shown turned 90 degrees counter-clockwise (displayed 180x320).

        Debian's ffmpeg 5.1 cannot write a display matrix; the static ffmpeg can.
        """
        out = self.root / "rotated.mp4"
        if not out.exists():
            if VMAF_FFMPEG is None:
                pytest.skip("no ffmpeg with -display_rotation available")
            subprocess.run(
                [
                    VMAF_FFMPEG,
                    "-hide_banner",
                    "-loglevel",
                    "error",
                    "-nostdin",
                    "-y",
                    "-display_rotation:v:0",
                    "90",
                    "-i",
                    str(self["landscape"]),
                    "-c",
                    "copy",
                    str(out),
                ],
                check=True,
            )
        return out


@pytest.fixture(scope="session")
def clips_b(tmp_path_factory: pytest.TempPathFactory) -> Clips:
    return Clips(tmp_path_factory.mktemp("clips_b"))
