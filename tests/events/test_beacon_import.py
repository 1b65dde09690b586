"""`reelflow events import-qoe-beacons` and migration 0006, on SQLite and on a real PostgreSQL:
the catalog's beacon rows become qoe events once (ids from the row ids), the table empties,
a rerun or a run stopped before its deletes counts each beacon once, beacons the API already
logged are not imported twice, and the table is dropped only when it is empty."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import MetaData, Table, insert, inspect
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from reelflow.catalog import legacy_qoe
from reelflow.catalog.db import (
    MigrationRefused,
    alembic_config,
    current_revision,
    head_revision,
    make_engine,
)
from reelflow.catalog.db import upgrade as db_upgrade
from reelflow.catalog.viewer_privacy import set_consent_choice
from reelflow.cli.app import app
from reelflow.config import get_settings
from reelflow.events.beacon_import import BeaconImport, ImportResult
from reelflow.events.log import RedisStreamLog
from reelflow.events.pseudonym import pseudonym_key, viewer_pseudonym
from reelflow.events.qoe_queries import qoe_report
from reelflow.events.queries import EventFiles, connect
from reelflow.storage import LocalStore
from tests.events.test_qoe_queries import beacon, write

T0 = datetime(2026, 9, 1, 12, 10, tzinfo=UTC)  # months ago: the import has no age limit
KEY = pseudonym_key(b"k" * 32)
# The namespace the brief fixes for imported ids, written out: a change would re-id rows.
NAMESPACE = uuid.UUID("3b0f5f36-9d0e-5c1a-8d55-0c7f1e2a9b64")
runner = CliRunner()


@pytest.fixture
def legacy(catalog_url: str) -> Iterator[Engine]:
    """A catalog at 0005: qoe_beacons still there (0006's downgrade puts it back, empty)."""
    command.downgrade(alembic_config(catalog_url), "0005")
    engine = make_engine(catalog_url)
    assert legacy_qoe.beacon_table_exists(engine)
    yield engine
    engine.dispose()


def put(engine: Engine, row_id: int, at: datetime, session: str, **kw: Any) -> None:
    """One beacon row as the retired rq job wrote them."""
    table = Table("qoe_beacons", MetaData(), autoload_with=engine)
    row = {
        "id": row_id, "title_id": "t1", "session_id": session, "account": "acct-a",
        "startup_ms": None, "rebuffer_count": 0, "rebuffer_ms": 0.0, "played_ms": 0.0,
        "bitrate_switches": 0, "errors": [], "plan": "basic", "country": "FR",
        "drm": "clearkey", "device_class": "desktop", "received_at": at, **kw,
    }  # fmt: skip
    with engine.begin() as conn:
        conn.execute(insert(table), [row])


def importer(engine: Engine, store: LocalStore, files: EventFiles) -> BeaconImport:
    return BeaconImport(engine, store, files, KEY, consent_default=True)


def _put_seven(engine: Engine) -> None:
    put(
        engine,
        1,
        T0,
        "s1",
        startup_ms=100.0,
        played_ms=10_000.0,
        rebuffer_ms=500.0,
        rebuffer_count=1,
        errors=["net:timeout"],
    )
    put(engine, 2, T0 + timedelta(seconds=30), "s1", played_ms=20_000.0, bitrate_switches=2)
    put(engine, 3, T0, "s2", startup_ms=300.0, played_ms=5000.0, device_class="tv")
    put(engine, 4, T0 + timedelta(hours=1), "s3", startup_ms=900.0, drm=None, device_class=None)
    put(engine, 5, T0 + timedelta(hours=1), "s3", startup_ms=200.0, errors=["net:timeout"])
    put(engine, 6, T0, "s4", account="acct-b", startup_ms=400.0, plan="premium")
    put(engine, 7, T0 + timedelta(hours=1), "s4", account="acct-b", startup_ms=50.0)  # fmt: skip


def _ids(files: EventFiles) -> dict[str, dict[str, Any]]:
    with connect(files, ("qoe",)) as con:
        cursor = con.execute("SELECT * FROM qoe")
        names = [d[0] for d in cursor.description or []]
        return {row[0]: dict(zip(names, row, strict=True)) for row in cursor.fetchall()}


def test_rows_become_qoe_events_once_and_leave_the_table(
    legacy: Engine, local_store: LocalStore, files: EventFiles
) -> None:
    _put_seven(legacy)
    set_consent_choice(legacy, "acct-b", False)  # operational events: kept, anonymised
    result = importer(legacy, local_store, files).run(batch=3)
    assert (result.imported, result.deleted, result.already_logged, result.invalid) == (7, 7, 0, [])
    assert legacy_qoe.count_beacons(legacy) == 0
    keys = sorted(info.key for info in local_store.list("events/type=qoe/"))
    assert {k.rsplit("/", 1)[0] for k in keys} == {
        "events/type=qoe/date=2026-09-01/hour=12",
        "events/type=qoe/date=2026-09-01/hour=13",
    }
    assert len(keys) == result.files >= 3  # three batches of at most three rows

    events = _ids(files)
    assert set(events) == {str(uuid.uuid5(NAMESPACE, str(i))) for i in range(1, 8)}
    first = events[str(uuid.uuid5(NAMESPACE, "1"))]
    assert first["viewer"] == viewer_pseudonym(KEY, "acct-a")
    assert first["ts"] == first["server_ts"] == T0
    assert (first["session"], first["title"], first["plan"], first["country"]) == (
        "s1", "t1", "basic", "FR",
    )  # fmt: skip
    assert (first["drm"], first["device_class"], first["errors"]) == (
        "clearkey", "desktop", ["net:timeout"],
    )  # fmt: skip
    assert (first["startup_ms"], first["rebuffer_ms"], first["rebuffer_count"]) == (100.0, 500.0, 1)
    assert events[str(uuid.uuid5(NAMESPACE, "4"))]["drm"] is None
    assert {e["viewer"] for e in events.values() if e["session"] == "s4"} == {"anonymous"}
    assert "acct-a" not in json.dumps([str(e) for e in events.values()])

    report = qoe_report(files, since=T0 - timedelta(minutes=1))
    [title] = report.titles
    # Start-ups [50, 100, 200, 300, 400, 900]: nearest rank p50 is the 3rd, p95 the 6th.
    assert (title.beacons, title.sessions, title.startup_p50_ms, title.startup_p95_ms) == (
        7, 4, 200.0, 900.0,
    )  # fmt: skip
    assert [(e.code, e.count) for e in title.top_errors] == [("net:timeout", 2)]

    again = importer(legacy, local_store, files).run()
    assert again == ImportResult()  # nothing left: nothing written, nothing deleted
    assert sorted(info.key for info in local_store.list("events/type=qoe/")) == keys


def test_a_run_stopped_before_its_deletes_counts_each_beacon_once(
    legacy: Engine, local_store: LocalStore, files: EventFiles
) -> None:
    _put_seven(legacy)
    importer(legacy, local_store, files).run(batch=4)
    files_before = sorted(info.key for info in local_store.list("events/"))
    # The rows back, as a run that wrote its files and stopped before deleting leaves them.
    _put_seven(legacy)
    result = importer(legacy, local_store, files).run(batch=4)
    assert (result.imported, result.already_logged, result.deleted) == (0, 7, 7)
    assert legacy_qoe.count_beacons(legacy) == 0
    assert sorted(info.key for info in local_store.list("events/")) == files_before
    assert qoe_report(files, since=T0 - timedelta(minutes=1)).titles[0].beacons == 7


def test_beacons_the_api_already_logged_are_not_imported_twice(
    legacy: Engine, local_store: LocalStore, files: EventFiles, stream_log: RedisStreamLog
) -> None:
    measures = {"startup_ms": 420.0, "played_ms": 9000.0, "errors": ["e:1"]}
    # POST /v1/qoe made the row (received_at) and, a moment later, the qoe event.
    logged = [
        beacon(T0 + timedelta(milliseconds=300), "s1", **measures),
        beacon(T0 + timedelta(seconds=31), "s1", **measures),
    ]
    write(stream_log, local_store, logged)
    row_measures = {"startup_ms": 420.0, "played_ms": 9000.0, "errors": ["e:1"]}
    put(legacy, 1, T0, "s1", **row_measures)
    put(legacy, 2, T0 + timedelta(seconds=30), "s1", **row_measures)
    put(legacy, 3, T0 + timedelta(minutes=10), "s1", **row_measures)  # too late for a twin
    put(legacy, 4, T0, "s1", startup_ms=421.0, played_ms=9000.0, errors=["e:1"])  # other values
    put(legacy, 5, T0, "s2", **row_measures)  # another session
    result = importer(legacy, local_store, files).run()
    assert (result.already_logged, result.imported, result.deleted) == (2, 3, 5)
    events = _ids(files)
    assert len(events) == 5
    assert {str(uuid.uuid5(NAMESPACE, str(i))) for i in (3, 4, 5)} <= set(events)


def test_an_invalid_row_stays_named_and_the_migration_refuses_then_drops(
    legacy: Engine, catalog_url: str, local_store: LocalStore, files: EventFiles
) -> None:
    put(legacy, 1, T0, "s1", startup_ms=100.0)
    put(legacy, 2, T0, "s2", title_id="Not A Title!", startup_ms=100.0)
    with pytest.raises(
        MigrationRefused, match=r"2 QoE beacon row.*reelflow events import-qoe-beacons"
    ):
        db_upgrade(catalog_url)
    assert current_revision(legacy) == "0005"
    assert legacy_qoe.count_beacons(legacy) == 2  # the refusal dropped nothing

    result = importer(legacy, local_store, files).run()
    assert (result.imported, result.invalid, result.remaining) == (1, [2], 1)
    with pytest.raises(MigrationRefused, match="1 QoE beacon row"):
        db_upgrade(catalog_url)
    legacy_qoe.delete_beacons(legacy, [2])  # what an operator does with a row that is no beacon
    db_upgrade(catalog_url)
    assert current_revision(legacy) == head_revision()  # past 0006, whatever came after
    assert not inspect(legacy).has_table("qoe_beacons")
    assert importer(legacy, local_store, files).run() == ImportResult(table=False)


@pytest.fixture
def cli_env(
    tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, EventFiles]]:
    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    db_upgrade(url, "0005")
    monkeypatch.setenv("REELFLOW_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("REELFLOW_DATABASE_URL", url)
    monkeypatch.setenv("REELFLOW_REDIS_URL", redis_url)
    get_settings.cache_clear()
    yield url, EventFiles.from_settings(get_settings())
    get_settings.cache_clear()


def test_the_commands_name_each_other(cli_env: tuple[str, EventFiles]) -> None:
    url, files = cli_env
    engine = make_engine(url)
    put(engine, 1, T0, "s1", startup_ms=100.0)
    put(engine, 2, T0, "s2", session_id="bad session")
    refused = runner.invoke(app, ["db", "upgrade"])
    assert refused.exit_code == 1
    said = " ".join(refused.output.split())  # rich wraps at the terminal's width
    assert "run `reelflow events import-qoe-beacons`" in said and "Traceback" not in said

    first = runner.invoke(app, ["events", "import-qoe-beacons"])
    assert first.exit_code == 1  # one row is no beacon: named, left in the table
    summary = json.loads(first.stdout.splitlines()[0])
    assert (summary["imported"], summary["invalid"], summary["remaining"]) == (1, [2], 1)
    assert summary["table"] == "present"
    assert "ids 2" in " ".join(first.output.split())
    legacy_qoe.delete_beacons(engine, [2])
    again = runner.invoke(app, ["events", "import-qoe-beacons"])
    assert again.exit_code == 0 and json.loads(again.stdout)["imported"] == 0
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    done = runner.invoke(app, ["events", "import-qoe-beacons"])
    assert done.exit_code == 0 and json.loads(done.stdout)["table"] == "dropped"
    assert qoe_report(files, since=T0 - timedelta(minutes=1)).titles[0].beacons == 1
    engine.dispose()
