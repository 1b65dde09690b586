"""POST /v1/events on the real app and a real Redis: per-event refusals, hostile batches,
sessions of other accounts, and QoE beacons arriving in the event log too."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import redis

from reelflow.events.log import STREAM
from reelflow.events.pseudonym import pseudonym_key, viewer_pseudonym
from reelflow.events.schema import StoredEvent
from reelflow.playback_api.delivery.sessions import new_session_id
from reelflow.playback_api.http.problems import PROBLEM_MEDIA_TYPE
from reelflow.playback_api.routes.events import MAX_EVENTS
from tests.playback_api.conftest import ApiHarness
from tests.playback_api.test_qoe import _add_title, _live_session


def _event(type_: str, **fields: Any) -> dict[str, Any]:
    now = datetime.now(UTC).isoformat()
    return {"id": str(uuid.uuid4()), "type": type_, "ts": now, **fields}


def _logged(api: ApiHarness) -> list[StoredEvent]:
    client = redis.Redis.from_url(api.settings.redis_url)
    return [StoredEvent.from_json(data[b"e"]) for _id, data in client.xrange(STREAM)]


def test_a_batch_is_accepted_and_carries_the_pseudonym_not_the_account(api: ApiHarness) -> None:
    batch = [
        _event("search", query="space", results=3),
        _event("row_click", row="new", position=2, title="t1"),
        _event("progress", title="t1", position_s=12.0),
    ]
    r = api.client.post(
        "/v1/events", json={"events": batch}, headers=api.auth(sub="alice", country="DE")
    )
    assert r.status_code == 202, r.text
    assert r.json() == {"accepted": 3, "discarded": 0}
    logged = _logged(api)
    assert [e.id for e in logged] == [e["id"] for e in batch]
    key = pseudonym_key(api.settings.secrets().signing_secret)
    assert {e.viewer for e in logged} == {viewer_pseudonym(key, "alice")}
    assert all(e.country == "DE" and e.plan == "premium" for e in logged)
    assert "alice" not in json.dumps([e.to_json() for e in logged])


def test_bad_events_are_named_and_the_good_ones_kept(api: ApiHarness) -> None:
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    batch = [
        _event("search", query="ok"),
        _event("teleport"),
        {**_event("search", query="later"), "ts": future},
        _event("qoe", title="t1", rebuffer_count="3"),
    ]
    r = api.client.post("/v1/events", json={"events": batch}, headers=api.auth())
    assert r.status_code == 422
    assert r.headers["content-type"].startswith(PROBLEM_MEDIA_TYPE)
    problem = r.json()
    assert problem["accepted"] == 1
    assert [(e["index"], e["field"]) for e in problem["errors"]] == [
        (1, "type"), (2, "ts"), (3, "rebuffer_count"),
    ]  # fmt: skip
    assert [e.id for e in _logged(api)] == [batch[0]["id"]]


def test_hostile_batches_are_refused_whole(api: ApiHarness) -> None:
    auth = api.auth()
    too_many = [_event("search", query="x") for _ in range(MAX_EVENTS + 1)]
    assert api.client.post("/v1/events", json={"events": too_many}, headers=auth).status_code == 422
    assert api.client.post("/v1/events", json={"events": []}, headers=auth).status_code == 422
    padded = [{**_event("search", query="x"), "pad": "p" * 1000} for _ in range(70)]
    r = api.client.post("/v1/events", json={"events": padded}, headers=auth)
    assert r.status_code == 413 and r.json()["type"].endswith("payload_too_large")
    assert api.client.post("/v1/events", content=b"[1,2", headers=auth).status_code == 422
    assert (
        api.client.post("/v1/events", json={"events": [_event("search", query="x")]}).status_code
        == 401
    )
    assert _logged(api) == []


def test_an_event_may_name_only_the_callers_own_session(api: ApiHarness) -> None:
    _add_title(api, "ev-movie")
    mine = _live_session(api, account="alice", title_id="ev-movie")
    theirs = _live_session(api, account="bob", title_id="ev-movie")
    batch = [
        _event("play_start", title="ev-movie", session=mine),
        _event("play_start", title="ev-movie", session=theirs),
        _event("play_start", title="ev-movie", session=new_session_id()),
    ]
    r = api.client.post("/v1/events", json={"events": batch}, headers=api.auth(sub="alice"))
    assert r.status_code == 422
    assert [(e["index"], e["field"]) for e in r.json()["errors"]] == [
        (1, "session"),
        (2, "session"),
    ]
    [logged] = _logged(api)
    assert logged.session == mine and logged.title == "ev-movie"


def test_a_qoe_beacon_is_also_a_qoe_event(api: ApiHarness) -> None:
    _add_title(api, "ev-qoe")
    session = _live_session(api, account="carol", title_id="ev-qoe")
    body = {"session_id": session, "title_id": "ev-qoe", "startup_ms": 420.0, "played_ms": 9000.0}
    r = api.client.post("/v1/qoe", json=body, headers=api.auth(sub="carol"))
    assert r.status_code == 202, r.text
    [event] = _logged(api)
    assert (event.type, event.title, event.session) == ("qoe", "ev-qoe", session)
    assert event.fields["startup_ms"] == 420.0 and event.fields["played_ms"] == 9000.0
    assert (event.plan, event.country) == ("premium", "US")  # the session's, as beacons
