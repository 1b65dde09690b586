"""Experiments at playback start (delivery/experiment_exposure.py) on the real app, catalog and
Redis: a running experiment's variant in the start's answer and exactly one exposure event
per session and experiment in the stream; none for a viewer outside the target, an opted-out
viewer, or a stopped experiment; playback goes on when the log refuses the exposure; the
in-process cache of running experiments."""

from __future__ import annotations

import asyncio
from typing import Any

import redis
from sqlalchemy import text

from reelflow.catalog.db import make_engine
from reelflow.events.log import STREAM
from reelflow.events.pseudonym import pseudonym_key, viewer_pseudonym
from reelflow.events.schema import StoredEvent
from reelflow.experiments import registry
from reelflow.experiments.assignment import Viewer
from reelflow.experiments.definitions import ExperimentIn, checked, spec_of
from reelflow.playback_api.delivery.experiment_exposure import RunningExperiments
from tests.experiments.test_definitions import body
from tests.playback_api.conftest import ApiHarness
from tests.playback_api.test_operations import metric

BASE = "/v1/admin/experiments"
TV = "Mozilla/5.0 (SMART-TV; Linux; Tizen 6.0) AppleWebKit/537.36"
CONFIG = {"abr": {"defaultBandwidthEstimate": 3_000_000}}


def _everyone(key: str = "abr-ladder", **changes: Any) -> dict[str, Any]:
    variants = [{"key": "control", "weight": 0.5, "config": {}},
                {"key": "fast", "weight": 0.5, "config": CONFIG}]  # fmt: skip
    return body(**{"key": key, "variants": variants, "target": {}, "layer": None, **changes})


def _run(api: ApiHarness, spec: dict[str, Any]) -> None:
    admin = api.auth(sub="ops", admin=True)
    assert api.client.post(BASE, json=spec, headers=admin).status_code == 201
    assert api.client.post(f"{BASE}/{spec['key']}/start", headers=admin).status_code == 200


def _exposures(api: ApiHarness) -> list[StoredEvent]:
    client = redis.Redis.from_url(api.settings.redis_url)
    logged = [StoredEvent.from_json(data[b"e"]) for _id, data in client.xrange(STREAM)]
    return [e for e in logged if e.type == "exposure"]


def _start(api: ApiHarness, sub: str, device: str = "device-1", **token: Any) -> dict[str, Any]:
    headers = {**api.auth(sub=sub, **token), "User-Agent": TV}
    r = api.start_playback("xp-movie", headers, device_id=device)
    assert r.status_code == 201, r.text
    answer: dict[str, Any] = r.json()
    return answer


def _expected(spec: dict[str, Any], sub: str, **where: Any) -> str | None:
    assigned = spec_of(checked(ExperimentIn.model_validate(spec))).assign(Viewer(sub, **where))
    return None if assigned is None else assigned.variant


def test_a_running_experiment_is_in_the_answer_with_one_exposure_per_session(
    api: ApiHarness,
) -> None:
    api.publish("xp-movie")
    assert _start(api, "anna")["experiments"] == {}  # nothing runs yet
    spec = _everyone()
    _run(api, spec)
    first = _start(api, "anna", device="tv-1")
    second = _start(api, "anna", device="tv-2")  # another session of the same viewer
    variant = _expected(spec, "anna")
    config = CONFIG if variant == "fast" else {}
    for answer in (first, second):
        assert answer["experiments"] == {"abr-ladder": {"variant": variant, "config": config}}
    exposures = _exposures(api)
    assert sorted(e.session for e in exposures) == sorted(
        [first["session_id"], second["session_id"]]
    )  # exactly one per session
    key = pseudonym_key(api.settings.secrets().signing_secret)
    for e in exposures:
        assert e.fields == {"experiment": "abr-ladder", "variant": variant}
        assert (e.viewer, e.country, e.plan) == (viewer_pseudonym(key, "anna"), "US", "premium")
    assert {e.device for e in exposures} == {"tv-1", "tv-2"}


def test_two_experiments_give_two_keys_and_two_exposures(api: ApiHarness) -> None:
    api.publish("xp-movie")
    _run(api, _everyone("abr-ladder"))
    _run(api, _everyone("artwork", primary_metric="play_starts", guardrails=[]))
    answer = _start(api, "bea")
    assert set(answer["experiments"]) == {"abr-ladder", "artwork"}
    exposures = _exposures(api)
    assert sorted(e.fields["experiment"] for e in exposures) == ["abr-ladder", "artwork"]
    assert {e.session for e in exposures} == {answer["session_id"]}


def test_a_viewer_outside_the_target_gets_no_key_and_no_exposure(api: ApiHarness) -> None:
    api.publish("xp-movie")
    spec = _everyone(target={"countries": ["DE"], "devices": ["tv"]})
    _run(api, spec)
    assert "abr-ladder" not in _start(api, "carl", country="FR")["experiments"]
    # The device class is the User-Agent's: a desktop browser is not a TV.
    desktop = api.start_playback("xp-movie", api.auth(sub="dora", country="DE"))
    assert desktop.status_code == 201 and desktop.json()["experiments"] == {}
    assert _exposures(api) == []
    inside = _start(api, "emil", country="DE")
    variant = _expected(spec, "emil", country="DE", plan="premium", device="tv")
    assert inside["experiments"]["abr-ladder"]["variant"] == variant
    assert [e.session for e in _exposures(api)] == [inside["session_id"]]


def test_an_opted_out_viewer_gets_the_variant_but_no_exposure_is_kept(api: ApiHarness) -> None:
    api.publish("xp-movie")
    _run(api, _everyone())
    headers = api.auth(sub="fay")
    assert api.client.put("/v1/me/privacy", json={"analytics_consent": False},
                          headers=headers).status_code == 200  # fmt: skip
    assert "abr-ladder" in _start(api, "fay")["experiments"]
    assert _exposures(api) == []


def test_a_stopped_experiment_leaves_the_answer_at_once(api: ApiHarness) -> None:
    api.publish("xp-movie")
    _run(api, _everyone())
    assert "abr-ladder" in _start(api, "gil", device="d-1")["experiments"]
    stop = api.client.post(f"{BASE}/abr-ladder/stop", headers=api.auth(sub="ops", admin=True))
    assert stop.status_code == 200
    assert _start(api, "gil", device="d-2")["experiments"] == {}
    assert len(_exposures(api)) == 1


def test_playback_starts_when_the_log_refuses_the_exposure(api: ApiHarness) -> None:
    api.publish("xp-movie")
    _run(api, _everyone())
    client = redis.Redis.from_url(api.settings.redis_url)
    client.set(STREAM, "not a stream")  # every XADD now fails with WRONGTYPE
    try:
        answer = _start(api, "hal")
        assert "abr-ladder" in answer["experiments"]
        assert client.type(STREAM) == b"string"
        text_ = api.client.get("/metrics").text
        assert metric(text_, "reelflow_server_events_lost_total", type="exposure") == 1
    finally:
        client.delete(STREAM)


def test_the_cache_reloads_on_invalidate_and_keeps_its_set_when_the_catalog_fails(
    api: ApiHarness,
) -> None:
    engine = make_engine(api.settings.resolved_database_url)
    registry.create(engine, ExperimentIn.model_validate(_everyone()), "cli")
    registry.start(engine, "abr-ladder", "cli")
    # A long refresh, so nothing but invalidate() reloads while the test runs.
    cache = RunningExperiments(engine, refresh_s=3600)

    def keys() -> list[str]:
        return [e.key for e in asyncio.run(cache.assigner()).experiments]

    assert keys() == ["abr-ladder"]
    registry.stop(engine, "abr-ladder", "cli")  # another process's change
    assert keys() == ["abr-ladder"]  # not seen until the refresh (or an invalidate)
    cache.invalidate()
    assert keys() == []
    registry.create(engine, ExperimentIn.model_validate(_everyone("artwork")), "cli")
    registry.start(engine, "artwork", "cli")
    cache.invalidate()
    assert keys() == ["artwork"]
    with engine.begin() as conn:  # the catalog refuses the read
        conn.execute(text("ALTER TABLE experiments RENAME TO experiments_away"))
    try:
        cache.invalidate()
        assert keys() == ["artwork"]  # the last set it gave, not nothing
    finally:
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE experiments_away RENAME TO experiments"))
        engine.dispose()
