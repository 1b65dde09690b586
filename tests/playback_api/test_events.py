"""POST /v1/events on the real app and a real Redis: per-event refusals, hostile batches,
sessions of other accounts, revoked tokens and the rate limit (checked inside the append
script), and QoE beacons arriving in the event log too."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import redis

from reelflow.events.log import STREAM
from reelflow.events.pseudonym import pseudonym_key, viewer_pseudonym
from reelflow.events.schema import StoredEvent
from reelflow.playback_api.delivery.sessions import new_session_id
from reelflow.playback_api.http.problems import PROBLEM_MEDIA_TYPE
from reelflow.playback_api.routes.events import MAX_EVENTS, RATE_LIMIT_PER_MIN
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


def _rate_counters(api: ApiHarness, sub: str) -> dict[bytes, int]:
    client = redis.Redis.from_url(api.settings.redis_url)
    try:
        keys = list(client.scan_iter(match=f"rf:rl:events:{sub}:*"))
        return {key: int(client.get(key) or 0) for key in keys}
    finally:
        client.close()


def test_several_bad_events_are_each_named_and_every_good_one_appended(api: ApiHarness) -> None:
    now = datetime.now(UTC)
    batch = [
        _event("search", query="first"),
        _event("session_start", title="t1", drm=[], protocols=["dash"], max_height=720),
        {**_event("search", query="x"), "id": "not-a-uuid"},
        _event("progress", title="t1", position_s=3.0),
        {**_event("search", query="later"), "ts": (now + timedelta(hours=1)).isoformat()},
        {**_event("search", query="stale"), "ts": (now - timedelta(days=4)).isoformat()},
        _event("row_click", row="new", position=1, title="t1", account="alice"),
        _event("qoe", title="t1", startup_ms=300.0, errors=["e1", "bad code"]),
        _event("qoe", title="t1", startup_ms=250.0, device="tv-7"),
    ]
    r = api.client.post("/v1/events", json={"events": batch}, headers=api.auth(sub="mia"))
    assert r.status_code == 422, r.text
    problem = r.json()
    assert [(e["index"], e["field"]) for e in problem["errors"]] == [
        (1, "type"), (2, "id"), (4, "ts"), (5, "ts"), (6, "account"), (7, "errors.1"),
    ]  # fmt: skip
    assert "server-side only" in problem["errors"][0]["detail"]
    assert (problem["accepted"], problem["discarded"]) == (3, 0)
    assert problem["detail"].startswith("6 of 9 events refused")
    logged = _logged(api)
    assert [e.id for e in logged] == [batch[i]["id"] for i in (0, 3, 8)]
    qoe = logged[2]
    assert qoe.device == "tv-7" and qoe.fields["startup_ms"] == 250.0
    # What only the server fills is there, empty, as for every qoe event a client sends.
    assert (qoe.fields["drm"], qoe.fields["device_class"]) == (None, None)


def test_a_revoked_token_is_refused_before_anything_is_counted_or_appended(
    api: ApiHarness,
) -> None:
    token = api.token(sub="nora")
    headers = {"Authorization": f"Bearer {token}"}
    good = {"events": [_event("search", query="x")]}
    assert api.client.post("/v1/events", json=good, headers=headers).status_code == 202
    counted = _rate_counters(api, "nora")
    admin = api.auth(admin=True)
    r = api.client.post("/v1/admin/revocations/accounts", json={"account": "nora"}, headers=admin)
    assert r.status_code == 201, r.text
    padded = {"events": [{**_event("search", query="x"), "pad": "p" * 1000} for _ in range(70)]}
    for body in (good, {"events": [_event("teleport")]}, {"events": []}, padded):
        refused = api.client.post("/v1/events", json=body, headers=headers)
        assert refused.status_code == 401, refused.text
        assert refused.json()["type"].endswith("invalid_token")
    assert len(_logged(api)) == 1  # the batch sent before the revocation only
    assert _rate_counters(api, "nora") == counted


def test_a_revoked_token_id_is_refused_too(api: ApiHarness) -> None:
    token = api.token(sub="otto")
    jti = jwt.decode(token, options={"verify_signature": False})["jti"]
    admin = api.auth(admin=True)
    r = api.client.post("/v1/admin/revocations/tokens", json={"jti": jti}, headers=admin)
    assert r.status_code == 201, r.text
    body = {"events": [_event("search", query="x")]}
    refused = api.client.post("/v1/events", json=body, headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 401 and "token was revoked" in refused.json()["detail"]
    assert api.client.post("/v1/events", json=body, headers=api.auth(sub="otto")).status_code == 202


def test_past_the_rate_limit_a_batch_is_refused_and_nothing_appended(api: ApiHarness) -> None:
    _add_title(api, "rl-movie")
    mine = _live_session(api, account="pia", title_id="rl-movie")
    client = redis.Redis.from_url(api.settings.redis_url)
    window = int(time.time()) // 60
    for w in (window, window + 1):  # either side of a minute turning during the test
        client.set(f"rf:rl:events:pia:{w}", RATE_LIMIT_PER_MIN, ex=120)
    client.close()
    auth = api.auth(sub="pia")
    for event in (_event("search", query="x"), _event("progress", title="rl-movie",
                                                      position_s=1.0, session=mine)):  # fmt: skip
        r = api.client.post("/v1/events", json={"events": [event]}, headers=auth)
        assert r.status_code == 429, r.text
        assert int(r.headers["Retry-After"]) >= 1
    assert _logged(api) == []


def test_a_batch_is_counted_once_whether_or_not_it_names_sessions(api: ApiHarness) -> None:
    _add_title(api, "once-movie")
    mine = _live_session(api, account="quinn", title_id="once-movie")
    auth = api.auth(sub="quinn")
    plain = [_event("search", query="x")]
    named = [_event("play_start", title="once-movie", session=mine)]
    for batch in (plain, named):
        assert (
            api.client.post("/v1/events", json={"events": batch}, headers=auth).status_code == 202
        )
    assert sum(_rate_counters(api, "quinn").values()) == 2
    assert [e.session for e in _logged(api)] == [None, mine]


def test_a_redis_that_forgot_the_append_script_is_given_it_again(api: ApiHarness) -> None:
    body = {"events": [_event("search", query="x")]}
    assert api.client.post("/v1/events", json=body, headers=api.auth()).status_code == 202
    client = redis.Redis.from_url(api.settings.redis_url)
    client.script_flush()  # as a Redis restarted without its script cache
    client.close()
    body = {"events": [_event("search", query="y")]}
    assert api.client.post("/v1/events", json=body, headers=api.auth()).status_code == 202
    assert len(_logged(api)) == 2
