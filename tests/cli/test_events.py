"""`reelflow events` and `reelflow accounts`: stats, export, history and erasure for real,
on a real Redis and a local store."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reelflow.cli.events import accounts_app, events_app
from reelflow.config import get_settings
from reelflow.events.schema import EVENT_TYPES, Context, parse_client_event, store
from reelflow.events.service import Events
from reelflow.events.writer import EventWriter

runner = CliRunner()


@pytest.fixture
def events(tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Events]:
    monkeypatch.setenv("REELFLOW_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("REELFLOW_REDIS_URL", redis_url)
    get_settings.cache_clear()
    built = Events.from_settings(get_settings())
    # The CLI builds its own log on the default stream: this module alone uses it.
    built.log.client.delete(built.log.stream)
    try:
        yield built
    finally:
        built.log.client.delete(built.log.stream)
        get_settings.cache_clear()


def _watch(events: Events, account: str, title: str, position: float) -> None:
    now = datetime.now(UTC)
    body = {"id": str(uuid.uuid4()), "type": "progress", "ts": now.isoformat(),
            "title": title, "position_s": position}  # fmt: skip
    events.log.append([store(parse_client_event(body), Context(viewer=events.viewer(account)))])


def test_stats_on_an_empty_store_are_zeros(events: Events) -> None:
    result = runner.invoke(events_app, ["stats", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {**dict.fromkeys(EVENT_TYPES, 0), "backlog": 0}


def test_export_history_and_erasure_of_one_account(events: Events, tmp_path: Path) -> None:
    _watch(events, "alice", "t1", 30.0)
    _watch(events, "alice", "t2", 60.0)
    _watch(events, "bob", "t1", 5.0)
    EventWriter(events.log, events.store, "w", block_ms=10).step()
    _watch(events, "alice", "t3", 1.0)  # still in the stream when erased
    out = tmp_path / "alice.jsonl"
    assert runner.invoke(accounts_app, ["export", "alice", "--out", str(out)]).exit_code == 0
    exported = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(e["title"] for e in exported) == ["t1", "t2"]
    assert "alice" not in out.read_text()  # pseudonymous, even in her own export
    history = runner.invoke(accounts_app, ["history", "alice"])
    assert [json.loads(line)["title"] for line in history.output.splitlines()] == ["t2", "t1"]
    erased = runner.invoke(accounts_app, ["erase", "alice"])
    assert erased.exit_code == 0, erased.output
    assert json.loads(erased.output) == {
        "account_erased": True, "stream_entries": 1, "files_rewritten": 1, "rows": 2,
    }  # fmt: skip
    assert runner.invoke(accounts_app, ["export", "alice"]).output == ""
    stats = json.loads(runner.invoke(events_app, ["stats", "--json"]).output)
    assert stats["progress"] == 1 and stats["backlog"] == 0
