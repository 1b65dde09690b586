"""Planning packager streams: names and languages checked, descriptors per kind, each
stream with its DRM label and outputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from reelflow.domain.track_classes import TrackClass
from reelflow.packaging.errors import PackagerInputError
from reelflow.packaging.streams import AudioTrack, SubtitleTrack, VideoRendition, plan_streams
from tests.packaging.conftest import Media


def test_unsafe_names_rejected(media: Media) -> None:
    with pytest.raises(PackagerInputError, match="name"):
        plan_streams([VideoRendition(media.v360, 640, 360, 1, name="a,b")], [], encrypted=False)
    with pytest.raises(PackagerInputError, match="bad language"):
        plan_streams(media.videos(), [AudioTrack(media.audio, "en,x")], encrypted=False)


def test_each_kind_gets_its_descriptor_and_label(media: Media, tmp_path: Path) -> None:
    vtt = tmp_path / "fr.vtt"
    vtt.write_text("WEBVTT\n")
    video, audio, text = plan_streams(
        [VideoRendition(media.v360, 640, 360, 800_000)],
        [AudioTrack(media.audio, "en", name="English")],
        [SubtitleTrack(vtt, "fr")],
        encrypted=True,
    )
    assert (video.kind, video.track_class, video.iframe_playlist) == (
        "video",
        TrackClass.SD,
        f"{video.name}_iframe.m3u8",
    )
    assert f"drm_label={TrackClass.SD.value}" in video.descriptor
    assert audio.track_class is TrackClass.AUDIO and "hls_name=English" in audio.descriptor
    assert text.track_class is None and "format=webvtt" in text.descriptor
    assert "drm_label" not in text.descriptor


def test_display_names_and_duplicates_are_refused(media: Media) -> None:
    with pytest.raises(PackagerInputError, match="audio track audio_en_2ch: name"):
        plan_streams(media.videos(), [AudioTrack(media.audio, "en", name='a"b')], encrypted=False)
    twice = [VideoRendition(media.v360, 640, 360, 1, name="v")] * 2
    with pytest.raises(PackagerInputError, match="share the output name"):
        plan_streams(twice, [], encrypted=False)
