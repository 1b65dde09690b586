"""Session-cached test media (lavfi sources) and packages for the packaging tests."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from reelflow.config import get_settings
from reelflow.domain.content_keys import ContentKey, generate_content_keys
from reelflow.domain.track_classes import TrackClass
from reelflow.media.quality import vmaf_ffmpeg
from reelflow.packaging.packager import PackageResult, package
from reelflow.packaging.streams import AudioTrack, SubtitleTrack, VideoRendition

GOP = ["-g", "48", "-keyint_min", "48", "-sc_threshold", "0", "-r", "24"]
VTT = "WEBVTT\n\n00:00:00.500 --> 00:00:02.000\nHello\n\n00:00:04.000 --> 00:00:07.000\nWorld\n"


@dataclass(frozen=True)
class Media:
    v360: Path
    v720: Path
    audio: Path
    subs: Path
    thumbs: Path

    def videos(self) -> list[VideoRendition]:
        return [
            VideoRendition(self.v360, 640, 360, 400_000),
            VideoRendition(self.v720, 1280, 720, 900_000),
        ]

    def audios(self) -> list[AudioTrack]:
        return [AudioTrack(self.audio, "en", 2, name="English")]

    def subtitles(self) -> list[SubtitleTrack]:
        return [SubtitleTrack(self.subs, "en")]


def _ffmpeg(*args: str) -> None:
    ffmpeg = get_settings().binary("ffmpeg")
    subprocess.run([ffmpeg, "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


@pytest.fixture(scope="session")
def packager_bin() -> str:
    return get_settings().binary("packager")


@pytest.fixture(scope="session")
def ffprobe_bin() -> str:
    return get_settings().binary("ffprobe")


@pytest.fixture(scope="session")
def ffmpeg9() -> str:
    exe = vmaf_ffmpeg(get_settings())
    assert exe, "imageio-ffmpeg's static ffmpeg 9 decodes the verification segments"
    return exe


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> Media:
    d = tmp_path_factory.mktemp("pkg-media")
    for w, h, rate in ((640, 360, "400k"), (1280, 720, "900k")):
        _ffmpeg(
            "-f", "lavfi", "-i", f"testsrc2=size={w}x{h}:rate=24:duration=8",
            "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-b:v", rate,
            *GOP, "-an", str(d / f"v{h}.mp4"),
        )  # fmt: skip
    _ffmpeg(
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=8",
        "-ac", "2", "-c:a", "aac", "-b:a", "96k", str(d / "audio.mp4"),
    )  # fmt: skip
    (d / "en.vtt").write_text(VTT)
    thumbs = d / "thumbs"
    thumbs.mkdir()
    _ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=size=160x90", "-frames:v", "1", str(thumbs / "sprite_0.jpg")
    )
    (thumbs / "thumbs.vtt").write_text(
        "WEBVTT\n\n00:00:00.000 --> 00:00:04.000\nsprite_0.jpg#xywh=0,0,80,45\n\n"
        "00:00:04.000 --> 00:00:08.000\nsprite_0.jpg#xywh=80,0,80,45\n"
    )
    return Media(
        d / "v360.mp4", d / "v720.mp4", d / "audio.mp4", d / "en.vtt", thumbs / "thumbs.vtt"
    )


@pytest.fixture(scope="session")
def content_keys() -> dict[TrackClass, ContentKey]:
    return generate_content_keys([TrackClass.AUDIO, TrackClass.SD, TrackClass.HD])


@pytest.fixture(scope="session")
def encrypted_pkg(
    media: Media,
    packager_bin: str,
    content_keys: dict[TrackClass, ContentKey],
    tmp_path_factory: pytest.TempPathFactory,
) -> PackageResult:
    return package(
        media.videos(),
        media.audios(),
        media.subtitles(),
        out_dir=tmp_path_factory.mktemp("pkg-enc") / "out",
        packager=packager_bin,
        keys=content_keys,
        thumbnails_vtt=media.thumbs,
    )


@pytest.fixture(scope="session")
def clear_pkg(
    media: Media, packager_bin: str, tmp_path_factory: pytest.TempPathFactory
) -> PackageResult:
    return package(
        media.videos(),
        media.audios(),
        media.subtitles(),
        out_dir=tmp_path_factory.mktemp("pkg-clear") / "out",
        packager=packager_bin,
    )
