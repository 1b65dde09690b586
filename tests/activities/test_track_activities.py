"""prepare_subtitles: captions converted to WebVTT under the hash of the delivered file,
recorded as a subtitle rendition; captions that do not parse end the run."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from reelflow.activities.deps import Deps
from reelflow.activities.track_activities import TrackActivities
from reelflow.catalog import assets as catalog_assets
from reelflow.lifecycle import contracts as c

SRT = b"1\n00:00:01,000 --> 00:00:02,500\nHello\n\n2\n00:00:03,000 --> 00:00:04,000\nAgain\n"


def subtitles(deps: Deps, *sources: c.SubtitleSource) -> list[c.RenditionInfo]:
    result: list[c.RenditionInfo] = ActivityEnvironment().run(
        TrackActivities(deps).prepare_subtitles, c.SubtitlesRequest("film", 1, list(sources))
    )
    return result


def test_captions_become_webvtt_keyed_by_the_file(local_deps: Deps, tmp_path: Path) -> None:
    srt = tmp_path / "en.srt"
    srt.write_bytes(SRT)
    (info,) = subtitles(local_deps, c.SubtitleSource("en", str(srt)))
    h = hashlib.sha256(SRT).hexdigest()[:16]
    assert info.object_key == f"subtitles/film/{h}/en.vtt"
    assert (info.name, info.kind, info.language) == ("sub-en", "subtitle", "en")
    vtt = local_deps.store.get_bytes(info.object_key).decode()
    assert vtt.startswith("WEBVTT") and "00:00:01.000 --> 00:00:02.500" in vtt
    (row,) = catalog_assets.title_renditions(local_deps.engine, "film", kind="subtitle")
    assert row.object_key == info.object_key


def test_captions_that_do_not_parse_are_final(local_deps: Deps, tmp_path: Path) -> None:
    junk = tmp_path / "fr.srt"
    junk.write_bytes(b"\x00\x01\x02 this is no caption file")
    with pytest.raises(ApplicationError) as failed:
        subtitles(local_deps, c.SubtitleSource("fr", str(junk)))
    assert failed.value.type == "BadSubtitles" and failed.value.non_retryable
    assert "subtitles fr" in str(failed.value)
