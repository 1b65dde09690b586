"""`reelflow events compact` (one upkeep run by hand, the schedule's code path) and
`reelflow events qoe-hourly` (the kept cells), on a real Redis and a local store."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reelflow.cli.events import events_app
from reelflow.config import get_settings
from reelflow.events.aggregates import utc_hour
from reelflow.events.log import RedisStreamLog
from reelflow.events.schema import Context, parse_client_event, store
from reelflow.events.service import Events
from reelflow.events.writer import EventWriter

runner = CliRunner()


@pytest.fixture
def events(tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Events]:
    monkeypatch.setenv("REELFLOW_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("REELFLOW_REDIS_URL", redis_url)
    get_settings.cache_clear()
    built = Events.from_settings(get_settings())
    try:
        yield built
    finally:
        get_settings.cache_clear()


def _beacons(events: Events, at: datetime, startup: list[float]) -> None:
    stream = f"test:events:{uuid.uuid4().hex}"
    log = RedisStreamLog(events.log.client, stream=stream)
    try:
        for ms in startup:
            body = {"id": str(uuid.uuid4()), "type": "qoe", "ts": at.isoformat(),
                    "title": "t1", "startup_ms": ms}  # fmt: skip
            log.append([store(parse_client_event(body), Context(viewer="v"), now=at)])
        writer = EventWriter(log, events.store, "w", batch=1, block_ms=10)
        while writer.step():
            pass
    finally:
        events.log.client.delete(stream)


def test_compact_keeps_the_hours_cells_and_qoe_hourly_reads_them(events: Events) -> None:
    at = datetime.now(UTC) - timedelta(hours=2)
    _beacons(events, at, [100.0, 300.0])
    result = runner.invoke(events_app, ["compact", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {
        "partitions_compacted": 1, "hours_aggregated": 1, "files_expired": 0,
    }  # fmt: skip
    shown = runner.invoke(events_app, ["qoe-hourly", "--hours", "3"])
    assert shown.exit_code == 0, shown.output
    [cell] = [json.loads(line) for line in shown.output.splitlines()]
    assert (cell["title"], cell["beacons"], cell["startup_p50_ms"]) == ("t1", 2, 200.0)
    assert datetime.fromisoformat(cell["hour"]) == utc_hour(at)
    assert runner.invoke(events_app, ["qoe-hourly", "--hours", "1"]).output == ""


def test_compact_refuses_a_bad_retention_setting_and_deletes_nothing(
    events: Events, monkeypatch: pytest.MonkeyPatch
) -> None:
    _beacons(events, datetime.now(UTC) - timedelta(days=200), [100.0])
    monkeypatch.setenv("REELFLOW_EVENTS_RETENTION_DAYS", '{"qoe": 0}')
    get_settings.cache_clear()
    result = runner.invoke(events_app, ["compact"])
    assert result.exit_code == 2
    assert "REELFLOW_EVENTS_RETENTION_DAYS: 'qoe': 0 days" in result.output
    assert len(list(events.store.list("events/type=qoe/"))) == 1
