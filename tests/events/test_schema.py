from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pyarrow as pa
import pytest

from reelflow.events.log import _record, encode_entry
from reelflow.events.parquet import arrow_schema
from reelflow.events.schema import (
    EVENT_TYPES,
    Context,
    EventRefused,
    StoredEvent,
    Thumb,
    parse_client_batch,
    parse_client_event,
    store,
    stored_record,
)
from tests.events.conftest import NOW, make_event


def _body(type_: str, **fields: object) -> dict[str, object]:
    return {"id": str(uuid.uuid4()), "type": type_, "ts": NOW.isoformat(), **fields}


def test_every_type_the_issue_names_exists() -> None:
    assert set(EVENT_TYPES) == {
        "play_start", "progress", "play_end", "qoe", "search", "row_impression",
        "row_click", "exposure", "ad_impression", "ad_quartile", "session_start", "thumb",
    }  # fmt: skip


def test_a_thumb_is_up_or_down_and_names_a_title() -> None:
    event = parse_client_event(_body("thumb", title="t1", rating="down"))
    assert isinstance(event, Thumb) and (event.title, event.rating) == ("t1", "down")
    with pytest.raises(EventRefused) as caught:
        parse_client_event(_body("thumb", title="t1", rating="meh"))
    assert caught.value.field == "rating"
    assert arrow_schema("thumb").field("rating").type == pa.string()


def test_a_server_side_type_is_refused_from_a_client_yet_has_its_columns() -> None:
    body = _body("session_start", title="t1", drm=[], protocols=["dash"], max_height=720)
    with pytest.raises(EventRefused, match="server-side only") as caught:
        parse_client_event({**body, "position_s": 0.0})
    assert caught.value.field == "type"
    exposure = _body("exposure", experiment="rows", variant="b")
    with pytest.raises(EventRefused, match="server-side only"):
        parse_client_event(exposure)
    # Every type the writer files, the server's own included, derives its Parquet columns.
    for event_type in EVENT_TYPES:
        assert arrow_schema(event_type).names[:2] == ["id", "schema_version"]
    assert arrow_schema("session_start").field("drm").type == pa.list_(pa.string())


def test_server_fills_what_the_client_omits_and_keeps_what_it_sent() -> None:
    ctx = Context(viewer="v_1", country="DE", plan="premium", session="s9", device="tv")
    sent = parse_client_event(_body("progress", title="t1", position_s=12.5, device="phone"))
    stored = store(sent, ctx, now=NOW)
    assert (stored.viewer, stored.country, stored.plan) == ("v_1", "DE", "premium")
    assert stored.session == "s9" and stored.device == "phone"
    assert stored.title == "t1" and stored.fields == {"position_s": 12.5, "duration_s": None}
    assert stored.server_ts == NOW and stored.ts == NOW


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"id": "not-a-uuid", "type": "search", "ts": NOW.isoformat(), "query": "x"}, "id"),
        (_body("teleport"), "type"),
        (_body("qoe", title="t1", rebuffer_count="3"), "rebuffer_count"),
        (_body("qoe", title="t1", rebuffer_count=-1), "rebuffer_count"),
        (_body("qoe", title="T1"), "title"),
        (_body("search", query=""), "query"),
        (_body("search", query="x", account="alice"), "account"),
        ({**_body("search", query="x"), "ts": "2026-12-07T16:30:00"}, "ts"),
        (_body("ad_quartile", ad="a1", quartile="fifth"), "quartile"),
    ],
)
def test_a_bad_event_is_refused_naming_the_field(body: dict[str, object], field: str) -> None:
    with pytest.raises(EventRefused) as caught:
        parse_client_event(body)
    assert caught.value.field == field


def test_timestamps_far_in_the_future_or_past_are_refused() -> None:
    event = parse_client_event(_body("search", query="x"))
    with pytest.raises(EventRefused, match="future"):
        store(event, Context(viewer="v"), now=NOW - timedelta(minutes=10))
    with pytest.raises(EventRefused, match="older"):
        store(event, Context(viewer="v"), now=NOW + timedelta(days=4))
    assert store(event, Context(viewer="v"), now=NOW - timedelta(minutes=4)).ts == NOW


def test_stored_events_round_trip_through_json() -> None:
    event = make_event("row_impression", row="new", position=0, titles=["a", "b"])
    assert type(event).from_json(event.to_json()) == event


def test_a_batch_is_validated_whole_and_each_bad_event_named_as_alone() -> None:
    batch: list[object] = [
        _body("search", query="a"),
        _body("teleport"),
        _body("session_start", title="t1", drm=[], protocols=["dash"], max_height=1),
        _body("qoe", title="t1", rebuffer_count="3", played_ms=-1.0),  # two errors: the first
        _body("progress", title="t1", position_s=1.0),
        {"id": str(uuid.uuid4()), "ts": NOW.isoformat()},  # no type at all
        _body("row_impression", row="new", position=0, titles=["ok", "Bad Title"]),
    ]
    valid, refused = parse_client_batch(batch)
    assert sorted(valid) == [0, 4]
    assert [valid[0].type, valid[4].type] == ["search", "progress"]
    assert {index: exc.field for index, exc in refused.items()} == {
        1: "type", 2: "type", 3: "rebuffer_count", 5: "event", 6: "titles.1",
    }  # fmt: skip
    for index, exc in refused.items():  # the same as each event validated alone
        with pytest.raises(EventRefused) as alone:
            parse_client_event(batch[index])
        assert (alone.value.field, alone.value.message) == (exc.field, exc.message)
    assert parse_client_batch([]) == ({}, {})


@pytest.mark.parametrize(
    ("body", "server"),
    [
        (_body("search", query='line one\nline two \u2603 "quoted"'), None),
        (_body("row_impression", row="new", position=2, titles=["a", "b"], device="tv"), None),
        (
            {**_body("progress", title="t1", position_s=1.5), "ts": "2026-12-07T17:29:00+01:00"},
            None,
        ),
        (
            _body("qoe", title="t1", startup_ms=1e-7, bandwidth_kbps=9_999_999.25, errors=["x"]),
            None,
        ),
        (_body("qoe", title="t1"), {"drm": "widevine", "device_class": "tv"}),
    ],
)
def test_a_record_encodes_to_the_bytes_of_its_model_on_one_line(
    body: dict[str, object], server: dict[str, str] | None
) -> None:
    ctx = Context(viewer="v_1", country="DE", plan="basic", session="s9")
    event = parse_client_event(body)
    record = stored_record(event, ctx, NOW, server)
    assert list(record) == list(StoredEvent.model_fields)
    entry = encode_entry(record)
    assert entry == store(event, ctx, now=NOW, server=server).to_json().encode()
    assert b"\n" not in entry  # entries travel to Redis as JSON Lines
    assert _record(entry) == {**record, "id": str(event.id), "fields": json.loads(entry)["fields"]}
