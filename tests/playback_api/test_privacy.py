"""Privacy on the real app, a real Redis and a real catalog: analytics consent
(``/v1/me/privacy``) applied at ingest (``POST /v1/events``, ``POST /v1/qoe``), and the
admin erasure endpoint with its audit log."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import redis

from reelflow.events.consent import mirror_key
from reelflow.events.log import STREAM, RedisStreamLog
from reelflow.events.privacy import ANONYMOUS
from reelflow.events.schema import StoredEvent
from reelflow.events.service import Events
from reelflow.events.writer import EventWriter
from reelflow.recs.rows_cache import rows_key
from tests.playback_api.conftest import ApiHarness, OpenApi
from tests.playback_api.test_qoe import _add_title, _live_session


def _event(type_: str, **fields: Any) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "type": type_, "ts": datetime.now(UTC).isoformat(), **fields}


def _batch() -> list[dict[str, Any]]:
    return [
        _event("search", query="space", results=2),
        _event("play_start", title="t1"),
        _event("progress", title="t1", position_s=10.0),
        _event("play_end", title="t1", position_s=20.0),
        _event("row_impression", row="new", position=0, titles=["t1"]),
        _event("row_click", row="new", position=0, title="t1"),
        _event("ad_impression", ad="ad-1", title="t1", device="tv-1"),
        _event("ad_quartile", ad="ad-1", quartile="complete"),
    ]


def _logged(api: ApiHarness) -> list[StoredEvent]:
    client = redis.Redis.from_url(api.settings.redis_url)
    try:
        return [StoredEvent.from_json(data[b"e"]) for _id, data in client.xrange(STREAM)]
    finally:
        client.close()


def _post(api: ApiHarness, sub: str, batch: list[dict[str, Any]]) -> Any:
    r = api.client.post("/v1/events", json={"events": batch}, headers=api.auth(sub=sub))
    assert r.status_code == 202, r.text
    return r.json()


def _put(api: ApiHarness, sub: str, consent: bool) -> Any:
    r = api.client.put(
        "/v1/me/privacy", json={"analytics_consent": consent}, headers=api.auth(sub=sub)
    )
    assert r.status_code == 200, r.text
    return r.json()


def test_consent_is_on_by_default_and_every_event_is_kept(api: ApiHarness) -> None:
    r = api.client.get("/v1/me/privacy", headers=api.auth(sub="dana"))
    assert r.status_code == 200
    assert r.json() == {"analytics_consent": True, "is_default": True}
    batch = _batch()
    assert _post(api, "dana", batch) == {"accepted": len(batch), "discarded": 0}
    viewer = Events.from_settings(api.settings).viewer("dana")
    assert [(e.id, e.viewer) for e in _logged(api)] == [(e["id"], viewer) for e in batch]


def test_an_opted_out_viewer_leaves_no_behaviour_in_the_stream(api: ApiHarness) -> None:
    assert _put(api, "erin", False) == {"analytics_consent": False, "is_default": False}
    got = api.client.get("/v1/me/privacy", headers=api.auth(sub="erin"))
    assert got.json() == {"analytics_consent": False, "is_default": False}
    assert _post(api, "erin", _batch()) == {"accepted": 8, "discarded": 6}
    logged = _logged(api)
    assert [e.type for e in logged] == ["ad_impression", "ad_quartile"]
    assert {e.viewer for e in logged} == {ANONYMOUS} and {e.device for e in logged} == {None}
    # Nothing in the stream leads back to her: neither the pseudonym nor the account.
    viewer = Events.from_settings(api.settings).viewer("erin")
    raw = json.dumps([e.to_json() for e in logged])
    assert viewer not in raw and "erin" not in raw


def test_an_opted_out_viewers_qoe_beacon_is_kept_anonymised(api: ApiHarness) -> None:
    _add_title(api, "pv-movie")
    session = _live_session(api, account="fred", title_id="pv-movie")
    _put(api, "fred", False)
    body = {"session_id": session, "title_id": "pv-movie", "startup_ms": 380.0}
    r = api.client.post("/v1/qoe", json=body, headers=api.auth(sub="fred"))
    assert r.status_code == 202, r.text
    [event] = _logged(api)
    assert (event.type, event.viewer, event.device) == ("qoe", ANONYMOUS, None)
    # The session stays (QoE counts sessions), and so do the beacon's figures.
    assert (event.session, event.title, event.fields["startup_ms"]) == (session, "pv-movie", 380.0)


def test_opting_back_in_keeps_the_next_batch(api: ApiHarness) -> None:
    _put(api, "gina", False)
    assert _post(api, "gina", [_event("search", query="a")])["discarded"] == 1
    assert _put(api, "gina", True) == {"analytics_consent": True, "is_default": False}
    second = _event("search", query="b")
    assert _post(api, "gina", [second]) == {"accepted": 1, "discarded": 0}
    viewer = Events.from_settings(api.settings).viewer("gina")
    assert [(e.id, e.viewer) for e in _logged(api)] == [(second["id"], viewer)]


def test_an_opt_in_deployment_keeps_nothing_of_a_fresh_account_until_it_agrees(
    open_api: OpenApi,
) -> None:
    api = open_api(analytics_consent_default=False)
    r = api.client.get("/v1/me/privacy", headers=api.auth(sub="hank"))
    assert r.json() == {"analytics_consent": False, "is_default": True}
    assert _post(api, "hank", [_event("search", query="x")]) == {"accepted": 1, "discarded": 1}
    assert _logged(api) == []
    _put(api, "hank", True)
    assert _post(api, "hank", [_event("search", query="y")])["discarded"] == 0
    assert [e.type for e in _logged(api)] == ["search"]


def test_a_bad_privacy_body_is_a_422_problem(api: ApiHarness) -> None:
    auth = api.auth(sub="ivan")
    for body in ({"analytics_consent": "no"}, {"analytics_consent": 0}, {},
                 {"analytics_consent": True, "more": 1}):  # fmt: skip
        r = api.client.put("/v1/me/privacy", json=body, headers=auth)
        assert r.status_code == 422, body
        assert r.json()["type"].endswith("validation_error")
    assert api.client.put("/v1/me/privacy", content=b"{", headers=auth).status_code == 422
    unauthenticated = api.client.put("/v1/me/privacy", json={"analytics_consent": True})
    assert unauthenticated.status_code == 401
    assert api.client.get("/v1/me/privacy", headers=auth).json()["is_default"] is True


def test_the_admin_erasure_removes_stream_and_files_and_is_audited(api: ApiHarness) -> None:
    watched = _event("progress", title="t1", position_s=5.0)
    _post(api, "jane", [_event("search", query="one"), watched])
    _post(api, "kurt", [_event("search", query="two")])
    log = RedisStreamLog(redis.Redis.from_url(api.settings.redis_url))
    EventWriter(log, api.store, "w", block_ms=10).step()  # into Parquet files
    log.client.close()
    _post(api, "jane", [_event("search", query="three")])  # still in the stream
    events = Events.from_settings(api.settings)
    jane = events.viewer("jane")
    assert len(events.export("jane")) == 2 and any(e.viewer == jane for e in _logged(api))
    # the recommender's precomputed lists are made from her events: they go too
    cache = redis.Redis.from_url(api.settings.redis_url)
    cache.hset(rows_key(jane), "version", "1")
    cache.hset(rows_key(events.viewer("kurt")), "version", "1")

    admin = api.auth(sub="ops-ann", admin=True)
    r = api.client.post("/v1/admin/accounts/jane/erasure", headers=admin)
    assert r.status_code == 200, r.text
    record = r.json()
    assert (record["account"], record["actor"], record["status"]) == ("jane", "ops-ann", "done")
    assert (record["stream_entries"], record["files_rewritten"], record["rows"]) == (1, 2, 2)
    assert record["reason"] is None and record["finished_at"] is not None
    assert [e.viewer for e in _logged(api)] == []  # the stream held hers only
    assert events.export("jane") == []
    assert [e["query"] for e in events.export("kurt")] == ["two"]
    assert not cache.exists(rows_key(jane)) and cache.exists(rows_key(events.viewer("kurt")))
    cache.close()

    listed = api.client.get("/v1/admin/erasures", headers=admin)
    assert listed.status_code == 200
    assert listed.json() == {"erasures": [record], "next_before": None}


def test_the_erasure_log_pages(api: ApiHarness) -> None:
    admin = api.auth(admin=True)
    ids = [
        api.client.post(f"/v1/admin/accounts/acct-{n}/erasure", headers=admin).json()["id"]
        for n in range(3)
    ]
    first = api.client.get("/v1/admin/erasures?limit=2", headers=admin).json()
    assert [e["id"] for e in first["erasures"]] == ids[:0:-1]
    assert first["next_before"] == ids[1]
    rest = api.client.get(f"/v1/admin/erasures?limit=2&before={ids[1]}", headers=admin).json()
    assert [e["id"] for e in rest["erasures"]] == ids[:1] and rest["next_before"] is None
    one = api.client.get("/v1/admin/erasures?account=acct-1", headers=admin).json()
    assert [e["account"] for e in one["erasures"]] == ["acct-1"]


def test_the_erasure_endpoints_need_an_admin_and_a_well_formed_account(api: ApiHarness) -> None:
    viewer = api.auth(sub="lena")
    assert api.client.post("/v1/admin/accounts/lena/erasure", headers=viewer).status_code == 403
    assert api.client.get("/v1/admin/erasures", headers=viewer).status_code == 403
    assert api.client.post("/v1/admin/accounts/lena/erasure").status_code == 401
    admin = api.auth(admin=True)
    for bad in ("bad%01id", "a" * 257):
        r = api.client.post(f"/v1/admin/accounts/{bad}/erasure", headers=admin)
        assert r.status_code == 422, bad
        assert r.json()["type"].endswith("validation_error")
    for query in ("limit=0", "limit=201", "before=0", f"before={2**64}", "account=a%01b"):
        assert api.client.get(f"/v1/admin/erasures?{query}", headers=admin).status_code == 422
    # Nothing was erased, and no audit row was written for any refused request.
    assert api.client.get("/v1/admin/erasures", headers=admin).json()["erasures"] == []


def test_a_mirror_value_the_ingest_script_does_not_know_is_read_from_the_catalog(
    api: ApiHarness,
) -> None:
    _put(api, "uma", False)
    client = redis.Redis.from_url(api.settings.redis_url)
    client.set(mirror_key("uma"), b"?")  # neither a choice nor "no choice": a miss
    client.close()
    assert _post(api, "uma", [_event("search", query="x")]) == {"accepted": 1, "discarded": 1}
    assert _logged(api) == []
