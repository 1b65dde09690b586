"""The events writer's Prometheus metrics: the QoE histograms and write counters, observed from
the qoe events a real writer writes (real Redis, local store) and scraped over HTTP."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from reelflow.config import ConfigError, Settings
from reelflow.events.log import STREAM, RedisStreamLog
from reelflow.events.metrics import WriterMetrics, parse_bind
from reelflow.events.service import Events
from reelflow.events.writer import EventWriter
from reelflow.storage import LocalStore
from tests.events.conftest import make_event
from tests.events.test_qoe_queries import T0, beacon
from tests.services import free_port


@pytest.fixture
def served() -> Iterator[tuple[WriterMetrics, str]]:
    metrics = WriterMetrics()
    port = free_port()
    server = metrics.serve(f"127.0.0.1:{port}")
    try:
        yield metrics, f"http://127.0.0.1:{port}/metrics"
    finally:
        server.shutdown()


def _samples(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(url, timeout=10).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _labels(plan: str, drm: str, device: str) -> tuple[tuple[str, str], ...]:
    return (("device_class", device), ("drm", drm), ("plan", plan))


def test_written_qoe_events_land_in_the_histograms_under_closed_labels(
    stream_log: RedisStreamLog, local_store: LocalStore, served: tuple[WriterMetrics, str]
) -> None:
    metrics, url = served
    events = [
        beacon(T0, "s1", startup_ms=420.0, played_ms=9000.0, rebuffer_ms=1000.0),
        beacon(T0, "s2", startup_ms=2600.0),  # nothing played: no rebuffer observation
        beacon(T0, "s3", plan="gold", drm="acme-drm", device="fridge", played_ms=100.0),
        beacon(T0, "s4", plan=None, drm=None, device=None, startup_ms=100.0),
        beacon(T0, "s5"),  # neither a start-up nor play time: observed nowhere
        make_event("search", query="cats"),
        make_event("search", at=T0 + timedelta(hours=1), query="dogs"),
    ]
    stream_log.append(events)
    writer = EventWriter(stream_log, local_store, "w", block_ms=10, on_written=metrics.observe)
    assert writer.step() == 7
    got = _samples(url)
    basic = _labels("basic", "clearkey", "desktop")
    assert got[("reelflow_events_qoe_startup_seconds_count", basic)] == 2
    assert got[("reelflow_events_qoe_startup_seconds_sum", basic)] == pytest.approx(3.02)
    assert got[("reelflow_events_qoe_rebuffer_ratio_count", basic)] == 1
    assert got[("reelflow_events_qoe_rebuffer_ratio_sum", basic)] == pytest.approx(0.1)
    # Made-up values are "other", missing ones "unknown": no new series from a session's data.
    other = _labels("other", "other", "other")
    assert got[("reelflow_events_qoe_rebuffer_ratio_count", other)] == 1
    assert got[("reelflow_events_qoe_startup_seconds_count", other)] == 0
    unknown = _labels("unknown", "unknown", "unknown")
    assert got[("reelflow_events_qoe_startup_seconds_count", unknown)] == 1
    assert not any("gold" in str(labels) or "fridge" in str(labels) for _, labels in got)
    assert got[("reelflow_events_written_total", (("type", "qoe"),))] == 5
    assert got[("reelflow_events_written_total", (("type", "search"),))] == 2


def test_events_a_writer_drops_are_not_counted(
    stream_log: RedisStreamLog, local_store: LocalStore, served: tuple[WriterMetrics, str]
) -> None:
    metrics, url = served
    stream_log.client.xadd(stream_log.stream, {"e": b"{not json"})
    writer = EventWriter(stream_log, local_store, "w", block_ms=10, on_written=metrics.observe)
    assert writer.step() == 0 and writer.counts.dropped == 1
    metrics.observe("teleport", [{"fields": {}}])  # a type the schema does not know
    names = {name for name, _ in _samples(url)}
    assert not any(n.startswith("reelflow_events_written_total") for n in names)


@pytest.mark.parametrize("bind", ["9465", "localhost", ":9465", "host:0", "host:99999", "h:x"])
def test_a_bad_bind_is_refused_naming_the_variable(bind: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="REELFLOW_EVENTS_METRICS_BIND"):
        parse_bind(bind)
    settings = Settings(home=tmp_path / "state", events_metrics_bind=bind)
    with pytest.raises(ConfigError, match="REELFLOW_EVENTS_METRICS_BIND"):
        Events.from_settings(settings)
    assert parse_bind("0.0.0.0:9465") == ("0.0.0.0", 9465)


REELFLOW = str(Path(sys.executable).parent / "reelflow")


def test_the_writer_process_serves_its_metrics(tmp_path: Path, redis_url: str) -> None:
    """`reelflow events writer` as the dev stack starts it, REELFLOW_EVENTS_METRICS_BIND set:
    a qoe event appended shows in its /metrics once written; SIGTERM stops it cleanly."""
    client = redis.Redis.from_url(redis_url)
    client.delete(STREAM)  # this module alone uses the default stream
    port = free_port()
    env = {**os.environ, "REELFLOW_HOME": str(tmp_path / "state"), "REELFLOW_REDIS_URL": redis_url,
           "REELFLOW_EVENTS_METRICS_BIND": f"127.0.0.1:{port}"}  # fmt: skip
    proc = subprocess.Popen(
        [REELFLOW, "events", "writer"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        now = datetime.now(UTC)
        event = beacon(now, "s1", plan="premium", drm="widevine", device="tv", startup_ms=700.0)
        RedisStreamLog(client, stream=STREAM).append([event])
        labels = 'device_class="tv",drm="widevine",plan="premium"'
        wanted = f"reelflow_events_qoe_startup_seconds_count{{{labels}}} 1.0"
        text, deadline = "", time.monotonic() + 60
        while wanted not in text and time.monotonic() < deadline and proc.poll() is None:
            with contextlib.suppress(httpx.TransportError):  # not listening yet
                text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
            time.sleep(0.2)
        assert wanted in text, text[-2000:]
        assert client.xlen(STREAM) == 0
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=60)
        client.delete(STREAM)
        client.close()
    assert proc.returncode == 0, err.decode()
    assert b"events writer stopped: 1 events in 1 files" in err
