"""The object-store layout: the exact key shapes existing stores hold, round trips, and
ids the layout refuses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from reelflow.domain.ids import InvalidTitleId
from reelflow.storage import layout
from reelflow.storage.keys import InvalidObjectKey

SHA = "0123456789abcdef" + "f" * 48
H = "0123456789abcdef"


def test_content_keys_keep_their_shapes() -> None:
    assert layout.master_key("film", SHA) == f"masters/film/{SHA}"
    assert layout.qc_report_key("film", SHA, "a1b2c3d4e5f6") == f"qc/film/{H}-a1b2c3d4e5f6.json"
    assert layout.ladder_key("film", SHA, "abc") == f"ladders/film/{H}-abc.json"
    assert (
        layout.chunk_plan_key("film", SHA, "abc", "def") == f"ladders/film/{H}-abc-chunks-def.json"
    )
    assert layout.subtitle_key("film", SHA, "en") == f"subtitles/film/{H}/en.vtt"
    assert layout.images_prefix("film", SHA) == f"images/film/{H}"
    assert layout.images_done_key("film", SHA) == f"images/film/{H}/result.json"
    assert layout.image_key("film", SHA, "sprites", "s1.jpg") == f"images/film/{H}/sprites/s1.jpg"
    assert layout.image_key("film", SHA, "art", "poster.jpg") == f"images/film/{H}/art/poster.jpg"


def test_rendition_keys_keep_their_shapes() -> None:
    prefix = layout.rendition_prefix("film", SHA, "abc123")
    assert prefix == f"renditions/film/{H}-abc123"
    assert layout.rendition_key(prefix, "720p") == f"{prefix}/720p.mp4"
    assert layout.chunk_part_key(prefix, 7, "720p") == f"{prefix}/chunks/00007/720p.mp4"
    audio = layout.audio_prefix("film", SHA, "abc123")
    assert audio == f"renditions/film/{H}-abc123/audio"
    assert layout.audio_tracks_key(audio) == f"{audio}/tracks.json"
    assert layout.audio_track_key(audio, "aac_en_2ch.mp4") == f"{audio}/aac_en_2ch.mp4"


def test_chunk_parts_parse_back_to_their_prefix() -> None:
    prefix = layout.rendition_prefix("film", SHA, "abc123")
    assert layout.parts_prefix_of(layout.chunk_part_key(prefix, 12, "1080p")) == prefix
    with pytest.raises(InvalidObjectKey):
        layout.parts_prefix_of(f"{prefix}/1080p.mp4")


def test_package_and_origin_keys_keep_their_shapes() -> None:
    assert layout.package_version_prefix("film", 2) == "packages/film/v2/"
    prefix = layout.package_prefix("film", 2, "0badc0de")
    assert prefix == "packages/film/v2/0badc0de"
    assert layout.package_done_key(prefix) == f"{prefix}/package.json"
    assert layout.package_file_key(prefix, "video/1.m4s") == f"{prefix}/video/1.m4s"
    assert layout.origin_prefix("film", 1) == "origin/film/v1"
    assert layout.origin_key("film", 1, "manifest.mpd") == "origin/film/v1/manifest.mpd"
    assert layout.origin_artwork_path("poster_600x900.jpg") == "art/poster_600x900.jpg"
    art = "images/film/0123456789abcdef/art/poster_600x900.jpg"
    assert layout.artwork_candidate_key(art, 2) == (
        "images/film/0123456789abcdef/art/c2_poster_600x900.jpg"
    )


@pytest.mark.parametrize("subpath", ["manifest.mpd", "video_360p_300k/1.m4s", "art/p.jpg"])
@pytest.mark.parametrize("version", [1, 2, 137])
def test_origin_keys_round_trip(version: int, subpath: str) -> None:
    key = layout.origin_key("tt-edge_1", version, subpath)
    parsed = layout.parse_origin_key(key)
    assert (parsed.title_id, parsed.version, parsed.subpath) == ("tt-edge_1", version, subpath)
    prefix = layout.origin_prefix("tt-edge_1", version)
    assert layout.parse_origin_key(prefix).subpath == ""
    assert layout.origin_subpath(prefix, key) == subpath


@pytest.mark.parametrize(
    "key",
    [
        "packages/film/v1/x",
        "origin/film",
        "origin/Film/v1/manifest.mpd",
        "origin/film/1/manifest.mpd",
        "origin/film/v0/manifest.mpd",
        "origin/film/v1/../v2/manifest.mpd",
    ],
)
def test_bad_origin_keys_are_refused(key: str) -> None:
    with pytest.raises(InvalidObjectKey):
        layout.parse_origin_key(key)


def test_origin_subpath_refuses_another_version() -> None:
    with pytest.raises(InvalidObjectKey):
        layout.origin_subpath("origin/film/v1", "origin/film/v2/manifest.mpd")


@pytest.mark.parametrize("title_id", ["", "Film", "a.b", "a/b", "x@v2", "a" * 65, "-lead"])
def test_bad_title_ids_are_refused(title_id: str) -> None:
    with pytest.raises(InvalidTitleId):
        layout.master_key(title_id, SHA)
    with pytest.raises(InvalidTitleId):
        layout.origin_prefix(title_id, 1)


@pytest.mark.parametrize("version", [0, -1, True, "1"])
def test_versions_are_ints_from_one(version: object) -> None:
    with pytest.raises(ValueError):
        layout.origin_prefix("film", version)  # type: ignore[arg-type]


def test_bad_hashes_and_names_are_refused() -> None:
    with pytest.raises(ValueError):
        layout.master_key("film", "abc")  # too short for a content hash
    with pytest.raises(ValueError):
        layout.rendition_prefix("film", SHA, "../x")
    prefix = layout.rendition_prefix("film", SHA, "abc")
    with pytest.raises(InvalidObjectKey):
        layout.rendition_key(prefix, "a/b")
    with pytest.raises(InvalidObjectKey):
        layout.package_file_key("packages/film/v1/abc", "../../origin/x")


def test_purge_prefixes_of_one_master() -> None:
    assert layout.content_prefixes("film", SHA) == [
        f"masters/film/{SHA}",
        f"qc/film/{H}-",
        f"ladders/film/{H}-",
        f"renditions/film/{H}-",
        f"images/film/{H}/",
    ]
    assert layout.subtitle_folder(f"subtitles/film/{H}/en.vtt") == f"subtitles/film/{H}/"


def test_studio_uploads() -> None:
    assert layout.uploads_prefix("acme") == "uploads/acme/"
    assert layout.upload_key("acme", "0f3a", "master.mov") == "uploads/acme/0f3a/master.mov"
    with pytest.raises(ValueError):
        layout.uploads_prefix("../acme")


def test_event_partitions_are_hive_style_utc_hours() -> None:
    at = datetime(2026, 12, 7, 23, 41, 5, tzinfo=timezone(timedelta(hours=-2)))
    prefix = layout.events_partition_prefix("playback_start", at)
    assert prefix == "events/type=playback_start/date=2026-12-08/hour=01/"
    key = layout.event_file_key("playback_start", at, "part-0001.parquet")
    assert key == prefix + "part-0001.parquet"
    parsed = layout.parse_event_key(key)
    assert parsed.event_type == "playback_start"
    assert parsed.hour == datetime(2026, 12, 8, 1, tzinfo=UTC)
    assert parsed.filename == "part-0001.parquet"
    with pytest.raises(ValueError):
        layout.events_partition_prefix("playback_start", datetime(2026, 1, 1))  # naive
    with pytest.raises(InvalidObjectKey):
        layout.parse_event_key("events/type=x/date=2026-13-01/hour=01/a.parquet")


def test_event_aggregates_are_hive_style_hours_outside_the_events_tree() -> None:
    at = datetime(2026, 12, 7, 23, 41, 5, tzinfo=timezone(timedelta(hours=-2)))
    key = layout.event_aggregate_key("qoe_hourly", at)
    assert key == "events-aggregates/qoe_hourly/date=2026-12-08/hour=01/cells.parquet"
    assert key.startswith(layout.event_aggregates_prefix("qoe_hourly"))
    parsed = layout.parse_event_aggregate_key(key)
    assert (parsed.name, parsed.hour) == ("qoe_hourly", datetime(2026, 12, 8, 1, tzinfo=UTC))
    with pytest.raises(ValueError):
        layout.event_aggregates_prefix("../qoe")
    for stray in (
        "events-aggregates/qoe_hourly/date=2026-12-08/hour=01/notes.txt",
        "events-aggregates/qoe_hourly/date=2026-12-08/hour=25/cells.parquet",
        "events/type=qoe/date=2026-12-08/hour=01/cells.parquet",
    ):
        with pytest.raises(InvalidObjectKey):
            layout.parse_event_aggregate_key(stray)
