"""The experiments admin API (routes/admin_experiments.py) on the real app, catalog and Redis:
admin tokens only, 422 problems naming the field, 409 once started, every change audited
with the admin's subject, and results readable from the start ("not enough data")."""

from __future__ import annotations

from typing import Any

import pytest

from reelflow.playback_api.http.problems import PROBLEM_MEDIA_TYPE
from tests.experiments.test_definitions import body
from tests.playback_api.conftest import ApiHarness

BASE = "/v1/admin/experiments"


def _admin(api: ApiHarness, sub: str = "ops-ann") -> dict[str, str]:
    return api.auth(sub=sub, admin=True)


def _problem(r: Any, status: int, slug: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM_MEDIA_TYPE)
    problem: dict[str, Any] = r.json()
    assert problem["type"].endswith("/" + slug)
    return problem


def test_only_an_admin_token_reaches_experiments(api: ApiHarness) -> None:
    viewer = api.auth(sub="viewer-1")
    calls = [("get", BASE), ("post", BASE), ("get", f"{BASE}/x"), ("patch", f"{BASE}/x"),
             ("post", f"{BASE}/x/start"), ("post", f"{BASE}/x/stop"),
             ("get", f"{BASE}/x/results"), ("get", f"{BASE}/x/results/timeseries")]  # fmt: skip
    for method, path in calls:
        _problem(api.client.request(method, path, json=body()), 401, "invalid_token")
        _problem(api.client.request(method, path, json=body(), headers=viewer), 403, "forbidden")


def test_an_experiment_is_created_edited_started_stopped_and_audited(api: ApiHarness) -> None:
    made = api.client.post(BASE, json=body(), headers=_admin(api))
    assert made.status_code == 201, made.text
    shown = made.json()
    assert shown["status"] == "draft" and shown["started_at"] is None
    assert {k: shown[k] for k in body()} == body()
    _problem(api.client.post(BASE, json=body(), headers=_admin(api)), 409, "conflict")

    edit = api.client.patch(f"{BASE}/abr-ladder", json={"mde": 0.1}, headers=_admin(api, "bob"))
    assert edit.status_code == 200 and edit.json()["mde"] == 0.1
    started = api.client.post(f"{BASE}/abr-ladder/start", headers=_admin(api, "cy"))
    assert started.status_code == 200 and started.json()["status"] == "running"
    assert started.json()["started_at"] is not None

    refused = api.client.patch(f"{BASE}/abr-ladder", json={"variants": body()["variants"][::-1]},
                               headers=_admin(api))  # fmt: skip
    assert "cannot be edited" in _problem(refused, 409, "conflict")["detail"]
    _problem(api.client.post(f"{BASE}/abr-ladder/start", headers=_admin(api)), 409, "conflict")
    stopped = api.client.post(f"{BASE}/abr-ladder/stop", headers=_admin(api, "dee"))
    assert stopped.json()["status"] == "stopped" and stopped.json()["stopped_at"] is not None
    _problem(api.client.post(f"{BASE}/abr-ladder/stop", headers=_admin(api)), 409, "conflict")

    one = api.client.get(f"{BASE}/abr-ladder", headers=_admin(api)).json()
    assert [(a["action"], a["actor"]) for a in one["audit"]] == [
        ("create", "ops-ann"), ("update", "bob"), ("start", "cy"), ("stop", "dee"),
    ]  # fmt: skip
    assert one["audit"][1]["changes"] == {"mde": {"from": 0.05, "to": 0.1}}
    assert one["mde"] == 0.1  # the refused edit changed nothing
    listed = api.client.get(BASE, params={"status": "stopped"}, headers=_admin(api)).json()
    assert [e["key"] for e in listed["experiments"]] == ["abr-ladder"]
    assert listed["experiments"][0]["audit"] is None
    assert api.client.get(BASE, params={"status": "draft"}, headers=_admin(api)).json() == {
        "experiments": []
    }
    _problem(api.client.get(f"{BASE}/nope", headers=_admin(api)), 404, "not_found")
    _problem(api.client.post(f"{BASE}/nope/start", headers=_admin(api)), 404, "not_found")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"target": {"devices": ["fridge"]}}, "target.devices"),
        ({"target": {"countries": ["Germany"]}}, "target.countries"),
        ({"primary_metric": "revenue"}, "primary_metric"),
        ({"guardrails": ["startup_p99"]}, "guardrails"),
        ({"variants": [{"key": "a", "weight": 0.9}, {"key": "b", "weight": 0.9}]},
         "variants.weight"),
        ({"key": "NotASlug"}, "key"),
        ({"variants": [{"key": "a", "weight": 0.5},
                       {"key": "b", "weight": 0.5, "config": {"abr": {"enabled": False}}}]},
         "variants.config.abr"),
    ],
)  # fmt: skip
def test_a_definition_that_cannot_run_is_a_422_naming_the_field(
    api: ApiHarness, changes: dict[str, Any], field: str
) -> None:
    problem = _problem(api.client.post(BASE, json=body(**changes), headers=_admin(api)), 422,
                       "validation_error")  # fmt: skip
    assert problem["field"] == field
    assert problem["errors"][0]["loc"] == ["body", *field.split(".")]
    assert api.client.get(BASE, headers=_admin(api)).json() == {"experiments": []}


def test_a_malformed_body_or_edit_is_a_422_with_its_location(api: ApiHarness) -> None:
    bad = body(variants=[{"key": "a", "weight": "0.5"}, {"key": "b", "weight": 0.5}])
    problem = _problem(api.client.post(BASE, json=bad, headers=_admin(api)), 422,
                       "validation_error")  # fmt: skip
    assert problem["errors"][0]["loc"] == ["body", "variants", 0, "weight"]
    assert api.client.post(BASE, json=body(), headers=_admin(api)).status_code == 201
    renamed = api.client.patch(f"{BASE}/abr-ladder", json={"key": "other"}, headers=_admin(api))
    assert _problem(renamed, 422, "validation_error")["errors"][0]["loc"] == ["body", "key"]
    clash = api.client.patch(f"{BASE}/abr-ladder", json={"guardrails": ["minutes_watched"]},
                             headers=_admin(api))  # fmt: skip
    assert _problem(clash, 422, "validation_error")["field"] == "guardrails"


def test_a_start_overlapping_a_running_experiment_in_its_layer_is_a_409(api: ApiHarness) -> None:
    one = body(key="abr-one", layer={"name": "abr", "end": 0.6})
    two = body(key="abr-two", layer={"name": "abr", "start": 0.5})
    for spec in (one, two):
        assert api.client.post(BASE, json=spec, headers=_admin(api)).status_code == 201
    assert api.client.post(f"{BASE}/abr-one/start", headers=_admin(api)).status_code == 200
    refused = api.client.post(f"{BASE}/abr-two/start", headers=_admin(api))
    assert "abr-one and abr-two overlap in abr" in _problem(refused, 409, "conflict")["detail"]


def test_results_come_from_the_start_and_say_when_there_is_not_enough_data(
    api: ApiHarness,
) -> None:
    assert api.client.post(BASE, json=body(), headers=_admin(api)).status_code == 201
    draft = api.client.get(f"{BASE}/abr-ladder/results", headers=_admin(api))
    assert "has not started" in _problem(draft, 409, "conflict")["detail"]
    api.client.post(f"{BASE}/abr-ladder/start", headers=_admin(api))

    r = api.client.get(f"{BASE}/abr-ladder/results", headers=_admin(api))
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["status"] == "running"
    assert [(v["key"], v["viewers"]) for v in report["variants"]] == [("control", 0), ("fast", 0)]
    assert report["results"]["srm"]["mismatch"] is False
    rows = report["results"]["metrics"]
    assert {m["metric"] for m in rows} == {"minutes_watched", "startup_p90", "rebuffer_ratio"}
    assert {m["verdict"] for m in rows} == {"not enough data"}
    [decision] = report["results"]["decisions"]
    assert decision["variant"] == "fast" and decision["hint"] == "not enough data"

    series = api.client.get(f"{BASE}/abr-ladder/results/timeseries", headers=_admin(api))
    assert series.status_code == 200, series.text
    points = series.json()
    assert (points["bucket"], points["variants"]) == ("hour", ["control", "fast"])
    assert len(points["points"]) == 1 and points["points"][0]["viewers"] == [0, 0]
    daily = api.client.get(
        f"{BASE}/abr-ladder/results/timeseries", params={"bucket": "day"}, headers=_admin(api)
    )
    assert daily.json()["bucket"] == "day"
    weekly = api.client.get(
        f"{BASE}/abr-ladder/results/timeseries", params={"bucket": "week"}, headers=_admin(api)
    )
    _problem(weekly, 422, "validation_error")
