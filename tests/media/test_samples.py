"""Generated test titles: the picture and sound asked for, and no temporary file left."""

from __future__ import annotations

from pathlib import Path

from reelflow.media.probe import probe
from reelflow.media.samples import make_test_title


def test_title_with_and_without_audio(tmp_path: Path) -> None:
    with_audio = make_test_title(
        tmp_path / "a.mp4", ffmpeg="ffmpeg", seconds=1, size="320x180", rate=25,
        audio_filter="volume=-6dB", video_args=("-preset", "ultrafast"),
    )  # fmt: skip
    info = probe(with_audio, ffprobe="ffprobe")
    assert info.video is not None and (info.video.width, info.video.height) == (320, 180)
    assert info.has_audio and info.audio[0].sample_rate == 48000
    silent = make_test_title(
        tmp_path / "b.mp4", ffmpeg="ffmpeg", seconds=1, size="320x180", tone=None,
        video_args=("-preset", "ultrafast"),
    )  # fmt: skip
    assert not probe(silent, ffprobe="ffprobe").has_audio
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.mp4", "b.mp4"]
