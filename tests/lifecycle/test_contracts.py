"""The lifecycle's payloads as they travel: through Temporal's JSON converter and back, and
older payloads (without the fields added since) still decoding."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.converter import DataConverter

from reelflow.lifecycle import contracts as c

CONVERTER = DataConverter.default.payload_converter

SAMPLES: list[Any] = [
    c.TitleInput(
        title_id="t1",
        source="store:masters/t1/film.mov",
        name="Film",
        version=2,
        genres=["drama"],
        options=c.TitleOptions(require_approval=True, extra_codecs=["av1"], drm=False),
        availability=c.AvailabilitySpec("2026-12-01T00:00:00+00:00", None, ["US"], ["basic"]),
        subtitles=[c.SubtitleSource("en", "store:subs/en.srt")],
        studio_id="acme",
    ),
    c.TitleStatus(
        "t1",
        1,
        "published",
        "live",
        [c.StageState("ingest", "done", 100.0, "1 bytes"), c.StageState("live", "running")],
        qc_warnings=["loud"],
        ladder=[c.RungSpec("h264_360p", 640, 360, 300, "h264")],
        renditions=[c.RenditionInfo("a_en", "audio", "renditions/t1/x/a.mp4", language="en")],
        ladder_metric="vmaf",
    ),
    c.LadderResult(
        "ladders/t1/x.json",
        "per_title",
        "vmaf",
        [c.RungSpec("h264_720p", 1280, 720, 2500, "h264")],
        [c.ChunkSpec(0, 0.0, 12.0)],
    ),
    c.JoinRequest(
        "t1",
        1,
        "ab" * 32,
        "ladders/t1/x.json",
        [c.EncodeChunkResult(0, {"h264_720p": "parts/0.mp4"}, reused=False, worker="1@h")],
        12.0,
        24.0,
    ),
    c.PackageRequest("t1", 1, "ab" * 32, [], None, {"SD": "00" * 16}, files_by_key=True),
    c.EventRequest("t1", 1, "published", "workflow", "published", {"drm": ["clearkey"]}),
]


@pytest.mark.parametrize("value", SAMPLES, ids=lambda v: type(v).__name__)
def test_payloads_round_trip_through_the_converter(value: Any) -> None:
    payloads = CONVERTER.to_payloads([value])
    assert payloads[0].metadata["encoding"] == b"json/plain"
    assert CONVERTER.from_payloads(payloads, [type(value)]) == [value]


def _decode(cls: type, data: dict[str, Any]) -> Any:
    payload = Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(data).encode())
    return CONVERTER.from_payloads([payload], [cls])[0]


def test_a_title_input_from_before_later_fields_decodes_with_defaults() -> None:
    inp = _decode(c.TitleInput, {"title_id": "t1", "source": "/m.mov", "name": "Film"})
    assert inp == c.TitleInput("t1", "/m.mov", "Film")
    assert inp.options.extra_codecs == [] and inp.options.media_heartbeat_timeout_s == 30.0
    old_options = _decode(c.TitleOptions, {"require_approval": True, "ladder": "fixed"})
    assert old_options == c.TitleOptions(require_approval=True, ladder="fixed")


def test_chunk_results_from_older_workers_decode() -> None:
    result = _decode(c.EncodeChunkResult, {"index": 3, "parts": {}, "reused": True})
    assert (result.parts_prefix, result.worker) == ("", "")


def test_parse_instant() -> None:
    assert c.parse_instant(None) is None
    assert c.parse_instant("") is None
    assert c.parse_instant("2026-12-01T00:00:00+00:00") == datetime(2026, 12, 1, tzinfo=UTC)
