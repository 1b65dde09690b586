"""Idempotent playback starts (delivery/idempotency.py) on the real app, real Redis and a
published title: a repeat answers the same session, whether the first answered or died."""

from __future__ import annotations

import json
from typing import Any

import redis

from reelflow.playback_api.delivery.idempotency import claim_key
from tests.playback_api.conftest import ApiHarness

TITLE = "tt-idem"
BODY = {"device_id": "tv-1", "drm": ["clearkey"], "protocols": ["dash"]}


def _start(api: ApiHarness, headers: dict[str, str], key: str | None, **body: Any) -> Any:
    extra = {"Idempotency-Key": key} if key is not None else {}
    return api.client.post(
        f"/v1/titles/{TITLE}/playback", json={**BODY, **body}, headers={**headers, **extra}
    )


def _redis(api: ApiHarness) -> redis.Redis:
    return redis.Redis.from_url(api.settings.redis_url)


def test_a_repeat_with_the_same_key_answers_the_same_session(api: ApiHarness) -> None:
    api.publish(TITLE)
    viewer = api.auth(sub="acct-idem")
    first = _start(api, viewer, "k-1")
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    again = _start(api, viewer, "k-1")
    assert again.status_code == 201, again.text
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    # The session it names is live: its heartbeat renews it.
    sid = first.json()["session_id"]
    beat = api.client.put(f"/v1/sessions/{sid}/heartbeat", json={"position": 3}, headers=viewer)
    assert beat.status_code == 200, beat.text
    # A start without the key on the same device is another session: refused as before.
    other = _start(api, viewer, None)
    assert other.status_code == 409 and other.json()["type"].endswith("/device_in_use")


def test_the_same_key_with_another_body_is_a_conflict(api: ApiHarness) -> None:
    api.publish(TITLE)
    viewer = api.auth(sub="acct-idem-conflict")
    assert _start(api, viewer, "k-2").status_code == 201
    changed = _start(api, viewer, "k-2", device_id="phone-9")
    assert changed.status_code == 422
    problem = changed.json()
    assert problem["type"].endswith("/idempotency_conflict") and problem["status"] == 422
    assert changed.headers["content-type"].startswith("application/problem+json")


def test_keys_are_scoped_to_the_viewer(api: ApiHarness) -> None:
    api.publish(TITLE)
    alice, bob = api.auth(sub="acct-idem-a"), api.auth(sub="acct-idem-b")
    a = _start(api, alice, "shared-key")
    b = _start(api, bob, "shared-key")
    assert a.status_code == b.status_code == 201
    assert a.json()["session_id"] != b.json()["session_id"]
    assert "idempotent-replayed" not in b.headers


def test_a_start_whose_replica_died_after_taking_the_lease_is_finished_by_its_repeat(
    api: ApiHarness,
) -> None:
    """The dead replica took the lease but never answered: its claim holds no answer. The
    repeat (the edge's retry on the other replica) reuses the claimed session id, takes
    its own lease again and answers that session, not device_in_use."""
    api.publish(TITLE)
    viewer = api.auth(sub="acct-idem-died")
    first = _start(api, viewer, "k-died")
    assert first.status_code == 201
    sid = first.json()["session_id"]
    r = _redis(api)
    rkey = claim_key("rf:", "acct-idem-died", "k-died")
    record = json.loads(r.get(rkey) or b"{}")
    assert record["sid"] == sid and "answer" in record
    del record["answer"]  # what a replica killed before its answer leaves behind
    r.set(rkey, json.dumps(record), keepttl=True)
    retried = _start(api, viewer, "k-died")
    assert retried.status_code == 201, retried.text
    assert "idempotent-replayed" not in retried.headers  # run again, not replayed
    assert retried.json()["session_id"] == sid
    assert json.loads(r.get(rkey) or b"{}")["answer"]["session_id"] == sid
    beat = api.client.put(f"/v1/sessions/{sid}/heartbeat", json={"position": 1}, headers=viewer)
    assert beat.status_code == 200, beat.text


def test_a_bad_key_is_a_validation_problem(api: ApiHarness) -> None:
    api.publish(TITLE)
    viewer = api.auth(sub="acct-idem-bad")
    for key in ("x" * 256, "has space"):
        bad = _start(api, viewer, key)
        assert bad.status_code == 422, key
        assert bad.json()["type"].endswith("/validation_error")
        assert bad.json()["errors"][0]["loc"] == ["header", "Idempotency-Key"]
