"""The bandwidth hint: a QoE beacon's ``bandwidth_kbps`` comes back as the next playback
start's ``bandwidth_hint_kbps`` for the same account and device only (real app, real Redis,
a published title)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from redis.asyncio import Redis

from reelflow.playback_api.delivery.bandwidth_hint import (
    HINT_MAX_KBPS,
    HINT_MIN_KBPS,
    clamp_kbps,
    hint_key,
    recall,
)
from tests.playback_api.conftest import ApiHarness

TITLE = "tt-hint"


def _play(api: ApiHarness, headers: dict[str, str], device: str) -> dict[str, Any]:
    r = api.start_playback(TITLE, headers, device_id=device)
    assert r.status_code == 201, r.text
    doc: dict[str, Any] = r.json()
    return doc


def _beacon(api: ApiHarness, headers: dict[str, str], session_id: str, **extra: Any) -> Any:
    body = {"session_id": session_id, "title_id": TITLE, "played_ms": 10_000, **extra}
    return api.client.post("/v1/qoe", json=body, headers=headers)


def _end(api: ApiHarness, headers: dict[str, str], session_id: str) -> None:
    assert api.client.delete(f"/v1/sessions/{session_id}", headers=headers).status_code == 204


def test_no_hint_until_a_beacon_measured_one(api: ApiHarness) -> None:
    api.publish(TITLE)
    headers = api.auth(sub="acct-new")
    first = _play(api, headers, "tv")
    assert "bandwidth_hint_kbps" in first and first["bandwidth_hint_kbps"] is None
    # A beacon without a measurement leaves no hint either.
    assert _beacon(api, headers, first["session_id"]).status_code == 202
    _end(api, headers, first["session_id"])
    assert _play(api, headers, "tv")["bandwidth_hint_kbps"] is None


def test_the_hint_is_the_accounts_last_measurement_on_that_device_only(api: ApiHarness) -> None:
    api.publish(TITLE)
    alice, bob = api.auth(sub="acct-alice"), api.auth(sub="acct-bob")
    phone = _play(api, alice, "phone")
    assert _beacon(api, alice, phone["session_id"], bandwidth_kbps=2400).status_code == 202
    assert _beacon(api, alice, phone["session_id"], bandwidth_kbps=1650.4).status_code == 202
    _end(api, alice, phone["session_id"])

    assert _play(api, alice, "phone")["bandwidth_hint_kbps"] == 1650  # the newest, rounded
    # The same account on another device, and another account on a device of the same
    # name: neither gets it.
    assert _play(api, alice, "tv")["bandwidth_hint_kbps"] is None
    assert _play(api, bob, "phone")["bandwidth_hint_kbps"] is None


def test_another_accounts_beacon_never_sets_a_hint(api: ApiHarness) -> None:
    api.publish(TITLE)
    owner, intruder = api.auth(sub="acct-owner"), api.auth(sub="acct-intruder")
    session = _play(api, owner, "phone")
    # The intruder names the owner's live session: refused, nothing stored for anyone.
    r = _beacon(api, intruder, session["session_id"], bandwidth_kbps=50)
    assert r.status_code == 404
    _end(api, owner, session["session_id"])
    assert _play(api, owner, "phone")["bandwidth_hint_kbps"] is None
    assert _play(api, intruder, "phone")["bandwidth_hint_kbps"] is None


def test_an_ended_sessions_beacon_is_counted_but_sets_no_hint(api: ApiHarness) -> None:
    api.publish(TITLE)
    headers = api.auth(sub="acct-late")
    session = _play(api, headers, "phone")
    assert _beacon(api, headers, session["session_id"]).status_code == 202  # while live
    _end(api, headers, session["session_id"])
    # Within the grace the beacon is accepted; the ended session no longer names a device.
    assert _beacon(api, headers, session["session_id"], bandwidth_kbps=3000).status_code == 202
    assert _play(api, headers, "phone")["bandwidth_hint_kbps"] is None


@pytest.mark.parametrize(
    "value",
    [-1, -0.001, 10_000_001, 1e308],
    ids=["negative", "slightly negative", "over 10 Gb/s", "huge"],
)
def test_hostile_values_are_refused(api: ApiHarness, value: float) -> None:
    api.publish(TITLE)
    headers = api.auth(sub="acct-hostile")
    session = _play(api, headers, "phone")
    r = _beacon(api, headers, session["session_id"], bandwidth_kbps=value)
    assert r.status_code == 422, r.text
    assert any("bandwidth_kbps" in e["loc"] for e in r.json()["errors"])
    _end(api, headers, session["session_id"])
    assert _play(api, headers, "phone")["bandwidth_hint_kbps"] is None


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", '"5000"', "true"])
def test_non_numbers_are_refused(api: ApiHarness, literal: str) -> None:
    api.publish(TITLE)
    headers = api.auth(sub="acct-nan")
    session = _play(api, headers, "phone")
    # json.dumps would refuse NaN; the server's JSON parser accepts the literal.
    raw = (
        f'{{"session_id": "{session["session_id"]}", "title_id": "{TITLE}", '
        f'"bandwidth_kbps": {literal}}}'
    )
    r = api.client.post(
        "/v1/qoe", content=raw, headers={**headers, "Content-Type": "application/json"}
    )
    assert r.status_code == 422, r.text
    _end(api, headers, session["session_id"])
    assert _play(api, headers, "phone")["bandwidth_hint_kbps"] is None


@pytest.mark.parametrize(
    ("sent", "hint"),
    [(0, None), (3, HINT_MIN_KBPS), (5_000_000, HINT_MAX_KBPS)],
    ids=["zero: no hint", "tiny: clamped up", "5 Gb/s: clamped down"],
)
def test_in_range_extremes_are_clamped(api: ApiHarness, sent: float, hint: float | None) -> None:
    api.publish(TITLE)
    headers = api.auth(sub="acct-extreme")
    session = _play(api, headers, "phone")
    assert _beacon(api, headers, session["session_id"], bandwidth_kbps=sent).status_code == 202
    _end(api, headers, session["session_id"])
    assert _play(api, headers, "phone")["bandwidth_hint_kbps"] == hint


def test_garbage_in_redis_reads_as_no_hint(api: ApiHarness) -> None:
    prefix = api.client.app.state.ctx.sessions.prefix  # type: ignore[attr-defined]

    async def check() -> list[float | None]:
        redis = Redis.from_url(api.settings.redis_url)
        try:
            got = []
            for raw in ("not a number", "nan", "-5", "inf", "2500"):
                await redis.set(hint_key(prefix, "acct-r", "d"), raw)
                got.append(await recall(redis, prefix, "acct-r", "d"))
            return got
        finally:
            await redis.aclose()

    assert asyncio.run(check()) == [None, None, None, None, 2500.0]


def test_keys_of_accounts_with_colons_do_not_collide() -> None:
    assert hint_key("rf:", "a:b", "c") != hint_key("rf:", "a", "b:c")
    assert clamp_kbps(float("nan")) is None and clamp_kbps(-1.0) is None
