"""Server-side events (delivery/server_events.py): `session_start` when the API starts a
playback session, on the real app, a real Redis and the real events writer; clients may not
send it, an opted-out viewer's is dropped, and an event log that refuses it does not keep
the viewer from playing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.fs as pafs
import pyarrow.parquet as pq
import redis

from reelflow.events.log import STREAM, RedisStreamLog
from reelflow.events.parquet import arrow_schema
from reelflow.events.pseudonym import pseudonym_key, viewer_pseudonym
from reelflow.events.queries import EventFiles, distinct_counts
from reelflow.events.schema import StoredEvent
from reelflow.events.writer import EventWriter
from reelflow.storage import LocalStore
from tests.playback_api.conftest import ApiHarness
from tests.playback_api.test_operations import metric


def _logged(api: ApiHarness) -> list[StoredEvent]:
    client = redis.Redis.from_url(api.settings.redis_url)
    return [StoredEvent.from_json(data[b"e"]) for _id, data in client.xrange(STREAM)]


def test_a_playback_start_records_session_start_and_the_writer_files_it(
    api: ApiHarness, tmp_path: Path
) -> None:
    api.publish("se-movie")
    r = api.start_playback(
        "se-movie", api.auth(sub="erin", plan="basic", country="DE"), device_id="tv-7"
    )
    assert r.status_code == 201, r.text
    start = r.json()
    [event] = [e for e in _logged(api) if e.type == "session_start"]
    key = pseudonym_key(api.settings.secrets().signing_secret)
    assert (event.session, event.title, event.device) == (start["session_id"], "se-movie", "tv-7")
    assert (event.viewer, event.plan, event.country) == (
        viewer_pseudonym(key, "erin"),
        "basic",
        "DE",
    )
    assert event.fields == {
        "drm": ["clearkey"],
        "protocols": ["dash", "hls"],
        "max_height": start["max_height"],
        "position_s": 0.0,
    }
    uuid.UUID(event.id)  # a server-made id, the unit of deduplication like any other

    # The writer files it under its own type, with the columns its model gives.
    store = LocalStore(tmp_path / "objects")
    log = RedisStreamLog(redis.Redis.from_url(api.settings.redis_url))
    assert EventWriter(log, store, "w-se", block_ms=10).step() == 1
    [info] = store.list("events/type=session_start/")
    table = pq.read_table(store.local_path(info.key))
    assert table.schema == arrow_schema("session_start")
    assert table.column("drm").to_pylist() == [["clearkey"]]
    assert table.column("session").to_pylist() == [start["session_id"]]
    counts = distinct_counts(EventFiles(pafs.LocalFileSystem(), str(store.root)))
    assert counts["session_start"] == 1


def test_a_client_cannot_send_session_start(api: ApiHarness) -> None:
    now = datetime.now(UTC).isoformat()
    forged = {
        "id": str(uuid.uuid4()), "type": "session_start", "ts": now, "title": "se-movie",
        "drm": ["clearkey"], "protocols": ["dash"], "max_height": 2160, "position_s": 0.0,
    }  # fmt: skip
    search = {"id": str(uuid.uuid4()), "type": "search", "ts": now, "query": "harbour"}
    r = api.client.post("/v1/events", json={"events": [forged, search]}, headers=api.auth())
    assert r.status_code == 422
    problem = r.json()
    [error] = problem["errors"]
    assert (error["index"], error["field"]) == (0, "type")
    assert "server-side only" in error["detail"]
    assert problem["accepted"] == 1
    assert [e.type for e in _logged(api)] == ["search"]


def test_an_opted_out_viewers_session_start_is_not_recorded(api: ApiHarness) -> None:
    api.publish("se-private")
    headers = api.auth(sub="gina")
    r = api.client.put("/v1/me/privacy", json={"analytics_consent": False}, headers=headers)
    assert r.status_code == 200, r.text
    assert api.start_playback("se-private", headers).status_code == 201
    assert api.start_playback("se-private", api.auth(sub="hugo")).status_code == 201
    key = pseudonym_key(api.settings.secrets().signing_secret)
    starts = [e for e in _logged(api) if e.type == "session_start"]
    assert [e.viewer for e in starts] == [viewer_pseudonym(key, "hugo")]


def test_playback_starts_when_the_event_log_refuses_the_event(api: ApiHarness) -> None:
    """The stream key holds a string, so every XADD fails with WRONGTYPE: a real Redis
    refusing the append while the rest of Redis (leases, resume positions) works."""
    api.publish("se-refused")
    client = redis.Redis.from_url(api.settings.redis_url)
    client.set(STREAM, "not a stream")
    try:
        headers = api.auth(sub="frank")
        r = api.start_playback("se-refused", headers)
        assert r.status_code == 201, r.text
        session_id = r.json()["session_id"]
        beat = api.client.put(
            f"/v1/sessions/{session_id}/heartbeat", json={"position": 3.0}, headers=headers
        )
        assert beat.status_code == 200, beat.text
        assert client.type(STREAM) == b"string"  # nothing was appended anywhere
        text = api.client.get("/metrics").text
        assert metric(text, "reelflow_server_events_lost_total", type="session_start") == 1
    finally:
        client.delete(STREAM)
