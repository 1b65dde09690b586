"""`reelflow events` and `reelflow accounts`: stats, export, history and erasure for real,
on a real Redis and a local store."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reelflow.catalog import engine_from_settings
from reelflow.catalog.db import upgrade
from reelflow.catalog.viewer_privacy import recent_erasures
from reelflow.cli.events import accounts_app, events_app
from reelflow.config import get_settings
from reelflow.events.consent import mirror_key
from reelflow.events.schema import EVENT_TYPES, Context, parse_client_event, store
from reelflow.events.service import ERASURE_LOCK, ErasureFailed, Events
from reelflow.events.writer import EventWriter
from reelflow.storage.layout import event_file_key
from tests.services import free_port

runner = CliRunner()


@pytest.fixture
def events(tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Events]:
    monkeypatch.setenv("REELFLOW_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("REELFLOW_REDIS_URL", redis_url)
    get_settings.cache_clear()
    get_settings().ensure_home()
    upgrade(get_settings().resolved_database_url)  # erasures are audited in the catalog
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
        "account_erased": True, "stream_entries": 1, "files_rewritten": 1, "rows": 2, "audit": 1,
    }  # fmt: skip
    assert runner.invoke(accounts_app, ["export", "alice"]).output == ""
    stats = json.loads(runner.invoke(events_app, ["stats", "--json"]).output)
    assert stats["progress"] == 1 and stats["backlog"] == 0


def test_consent_is_shown_and_set_and_mirrored(events: Events) -> None:
    def consent(*args: str) -> dict[str, object]:
        result = runner.invoke(accounts_app, ["consent", *args])
        assert result.exit_code == 0, result.output
        out: dict[str, object] = json.loads(result.output)
        return out

    key = mirror_key("mia")
    events.log.client.delete(key)
    try:
        assert consent("mia") == {"account": "mia", "analytics_consent": True, "is_default": True}
        assert consent("mia", "--off") == {
            "account": "mia", "analytics_consent": False, "is_default": False,
        }  # fmt: skip
        assert events.log.client.get(key) == b"0"  # the ingest path sees it on its next batch
        assert consent("mia")["analytics_consent"] is False
        assert consent("mia", "--on")["analytics_consent"] is True
        assert events.log.client.get(key) == b"1"
    finally:
        events.log.client.delete(key)


def test_an_opt_in_deployment_shows_a_fresh_account_opted_out(
    events: Events, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REELFLOW_ANALYTICS_CONSENT_DEFAULT", "false")
    get_settings.cache_clear()
    result = runner.invoke(accounts_app, ["consent", "noor"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {
        "account": "noor", "analytics_consent": False, "is_default": True,
    }  # fmt: skip


def test_a_malformed_account_is_refused_before_anything_runs(events: Events) -> None:
    for command in ("erase", "consent"):
        result = runner.invoke(accounts_app, [command, "bad\x01id"])
        assert result.exit_code == 2 and "not an account" in result.output
    assert recent_erasures(engine_from_settings(get_settings()), limit=5) == []


def test_erasure_is_audited_as_the_cli(events: Events) -> None:
    _watch(events, "olga", "t1", 3.0)
    result = runner.invoke(accounts_app, ["erase", "olga"])
    assert result.exit_code == 0, result.output
    [row] = recent_erasures(engine_from_settings(get_settings()), limit=5)
    assert (row.account, row.actor, row.status, row.stream_entries) == ("olga", "cli", "done", 1)
    assert json.loads(result.output)["audit"] == row.id


def test_a_failed_erasure_exits_non_zero_and_is_audited(
    events: Events, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REELFLOW_REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")  # nothing there
    get_settings.cache_clear()
    result = runner.invoke(accounts_app, ["erase", "pia"])
    assert result.exit_code == 1
    assert "failed" in result.output and "run it again" in result.output
    [row] = recent_erasures(engine_from_settings(get_settings()), limit=5)
    assert (row.account, row.status) == ("pia", "failed")
    assert row.reason is not None and "ConnectionError" in row.reason


def test_a_second_erasure_waits_for_the_first_and_gives_up_recorded(events: Events) -> None:
    engine = engine_from_settings(get_settings())
    held = events.log.client.lock(ERASURE_LOCK, timeout=60)
    assert held.acquire()
    try:
        with pytest.raises(ErasureFailed) as failed:
            events.erase("quinn", actor="cli", catalog=engine, wait_s=0.2)
    finally:
        held.release()
    record = failed.value.record
    assert record.status == "failed" and "another erasure is running" in (record.reason or "")
    # Once the lock is free, the same erasure runs.
    assert events.erase("quinn", actor="cli", catalog=engine).status == "done"


def test_erasure_also_removes_what_a_writer_held_in_hand(events: Events) -> None:
    # A writer has read the viewer's entries (pending) and writes their file only once the
    # erasure has passed over the files: the erasure waits for it and rewrites that hour.
    writer = EventWriter(events.log, events.store, "slow", block_ms=10)
    _watch(events, "hana", "t1", 4.0)
    _watch(events, "ivan", "t1", 5.0)
    held = events.log.read("slow", count=10)
    assert len(held) == 2 and events.log.in_hand() is not None

    def write_late() -> None:
        time.sleep(1.0)
        writer._write(held)
        events.log.done([entry.entry_id for entry in held])

    late = threading.Thread(target=write_late)
    late.start()
    try:
        result = runner.invoke(accounts_app, ["erase", "hana"])
    finally:
        late.join(timeout=30)
    assert result.exit_code == 0, result.output
    assert events.log.in_hand() is None
    assert events.export("hana") == []
    assert [row["title"] for row in events.export("ivan")] == ["t1"]


def test_a_failed_erasure_records_what_it_removed_before_the_failure(events: Events) -> None:
    _watch(events, "rosa", "t1", 6.0)  # in the stream
    # A file that is no Parquet in the events layout: the pass over the files stops on it.
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    events.store.put_bytes(event_file_key("search", hour, "broken.parquet"), b"not parquet")
    result = runner.invoke(accounts_app, ["erase", "rosa"])
    assert result.exit_code == 1
    [row] = recent_erasures(engine_from_settings(get_settings()), limit=5)
    assert (row.status, row.stream_entries) == ("failed", 1)


def test_ad_delivery_lines(events: Events) -> None:
    now = datetime.now(UTC)
    body = {"id": str(uuid.uuid4()), "type": "ad_impression", "ts": now.isoformat(), "ad": "a1"}
    events.log.append([store(parse_client_event(body), Context(viewer=events.viewer("ola")))])
    writer = EventWriter(events.log, events.store, "w", block_ms=10)
    while writer.step():
        pass
    result = runner.invoke(events_app, ["ads", "--hours", "2"])
    assert result.exit_code == 0, result.output
    [line] = [json.loads(line) for line in result.output.splitlines()]
    assert (line["ad"], line["impressions"], line["completion"]) == ("a1", 1, 0.0)
