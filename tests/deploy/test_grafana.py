"""deploy/grafana/reelflow.json names only metrics reelflow really exports.

Metric names are pulled out of every PromQL expression (panel targets and template
variables), then checked against the families the app's /metrics shows after one request of
each kind (a playback start and a refusal, a license, a QoE beacon, a health check) and those
the events writer's /metrics shows once it has written that beacon's qoe event: QoE comes
from the event log, not from the API.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from reelflow.events.log import RedisStreamLog
from reelflow.events.metrics import WriterMetrics
from reelflow.events.writer import EventWriter
from tests.fixtures.published import MediaSet
from tests.playback_api.conftest import ApiHarness, _harness
from tests.services import free_port

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "reelflow.json"
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_NOISE = re.compile(r'"[^"]*"|\{[^}]*\}|\[[^\]]*\]|\$\w+|\b\d+(?:\.\d+)?(?:ms|[smhdwy])?\b')
_IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan", "group_left", "group_right"}
SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("_count", "_sum", "_created"),
}


def metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression: identifiers that are not functions (followed by
    '('), labels (inside {} or by (...)), strings, ranges, variables or keywords."""
    text = _NOISE.sub(" ", _GROUPING.sub(" ", expr))
    names = set()
    for m in _IDENT.finditer(text):
        rest = text[m.end() :].lstrip()
        word = m.group(0)
        if rest.startswith("(") or word.lower() in _KEYWORDS:
            continue
        names.add(word)
    return names


def expressions(dashboard: dict[str, Any]) -> list[str]:
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    for var in dashboard.get("templating", {}).get("list", []):
        query = var.get("query")
        if isinstance(query, dict) and "label_values(" in query.get("query", ""):
            # label_values(metric, label): the metric is the first argument.
            exprs.append(query["query"].split("(", 1)[1].split(",", 1)[0])
    return exprs


def exported(metrics_text: str) -> set[str]:
    names = set()
    for family in text_string_to_metric_families(metrics_text):
        names.add(family.name)
        names.update(family.name + s for s in SUFFIXES.get(family.type, ()))
    return names


@pytest.fixture
def api(
    tmp_path: Path, redis_url: str, media_set: MediaSet, packager_path: str
) -> Iterator[ApiHarness]:
    """The playback API on a fresh SQLite catalog (tests/playback_api's harness)."""
    yield from _harness(
        tmp_path, redis_url, f"sqlite:///{tmp_path / 'catalog.db'}", media_set, packager_path
    )


def missing(dashboard: dict[str, Any], metrics_text: str) -> set[str]:
    wanted = set().union(*(metric_names(e) for e in expressions(dashboard)))
    return wanted - exported(metrics_text)


def test_metric_name_extraction() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (le, plan) (rate(a_bucket{plan=~"$plan"}[5m])))'
        " / on (x) group_left b_total + sum(c) offset 5m"
    )
    assert metric_names(expr) == {"a_bucket", "b_total", "c"}


def writer_metrics_after_writing(api: ApiHarness) -> str:
    """The events writer's /metrics (served as `reelflow events writer` serves it) once it
    has written what the app appended to the event log."""
    metrics, port = WriterMetrics(), free_port()
    server = metrics.serve(f"127.0.0.1:{port}")
    client = redis.Redis.from_url(api.settings.redis_url)
    try:
        log = RedisStreamLog(client)
        writer = EventWriter(log, api.store, "grafana", block_ms=10, on_written=metrics.observe)
        for _ in range(100):  # bounded: a batch or two
            if writer.step() == 0:
                break
        assert log.backlog() == 0
        return httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    finally:
        client.close()
        server.shutdown()


def test_every_dashboard_metric_is_exported(api: ApiHarness) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    title = api.publish("tt-grafana")
    api.publish("tt-fr", regions=("FR",))
    assert api.start_playback("tt-fr", api.auth(country="US")).status_code == 403
    headers = api.auth(plan="basic")
    session = api.start_playback("tt-grafana", headers).json()
    kid = base64.urlsafe_b64encode(bytes.fromhex(title.kid("SD"))).rstrip(b"=").decode()
    license_url = session["licenses"]["clearkey"].split("8000", 1)[1]
    assert api.client.post(license_url, json={"kids": [kid]}, headers=headers).status_code == 200
    beacon = {"session_id": session["session_id"], "title_id": "tt-grafana", "startup_ms": 420.0}
    beacon |= {"played_ms": 9000.0, "rebuffer_ms": 1000.0}
    assert api.client.post("/v1/qoe", json=beacon, headers=headers).status_code == 202
    assert api.client.get("/healthz").status_code == 200
    api_text = api.client.get("/metrics").text
    writer_text = writer_metrics_after_writing(api)
    text = api_text + writer_text

    names = set().union(*(metric_names(e) for e in expressions(dashboard)))
    assert len(names) >= 8, names
    assert all(n.startswith("reelflow_") for n in names), names
    assert missing(dashboard, text) == set()
    # The check can fail: a misspelt metric in a panel is reported.
    broken = json.loads(DASHBOARD.read_text())
    broken["panels"][0]["targets"][0]["expr"] = (
        "rate(reelflow_events_qoe_startup_second_bucket[5m])"
    )
    assert missing(broken, text) == {"reelflow_events_qoe_startup_second_bucket"}
    # The dashboard's QoE is the writer's, read from the event log: the API exports none.
    assert not any("qoe" in family.name for family in text_string_to_metric_families(api_text))
    assert missing(json.loads(DASHBOARD.read_text()), api_text) >= {
        "reelflow_events_qoe_startup_seconds_bucket",
        "reelflow_events_qoe_rebuffer_ratio_sum",
    }
    # The beacon landed in the QoE histograms under bounded labels only.
    labels = 'device_class="desktop",drm="clearkey",plan="basic"'
    assert f"reelflow_events_qoe_startup_seconds_count{{{labels}}} 1.0" in writer_text
    assert f"reelflow_events_qoe_rebuffer_ratio_sum{{{labels}}} 0.1" in writer_text


def test_every_panel_has_a_unique_id_and_a_query() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    assert all(
        p["targets"] and all(t["expr"].strip() for t in p["targets"]) for p in dashboard["panels"]
    )
