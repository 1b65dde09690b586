"""A viewer's privacy rows (catalog.viewer_privacy): the analytics choice and the erasure
audit log, on SQLite and PostgreSQL; migration 0005 down and up again."""

from __future__ import annotations

from alembic import command
from sqlalchemy import inspect
from sqlalchemy.engine import Engine

from reelflow.catalog import viewer_privacy as vp
from reelflow.catalog.db import alembic_config, make_engine, upgrade
from reelflow.catalog.models import ErasureStatus


def test_no_choice_then_a_choice_then_another(catalog: Engine) -> None:
    assert vp.consent_choice(catalog, "alice") is None
    vp.set_consent_choice(catalog, "alice", False)
    assert vp.consent_choice(catalog, "alice") is False
    vp.set_consent_choice(catalog, "alice", True)
    assert vp.consent_choice(catalog, "alice") is True
    assert vp.consent_choice(catalog, "bob") is None  # one account's choice is its own


def test_an_erasure_is_recorded_started_then_done(catalog: Engine) -> None:
    row = vp.start_erasure(catalog, "alice", "ops-ann")
    assert row.id is not None and row.status == ErasureStatus.STARTED
    assert row.started_at.tzinfo is not None and row.finished_at is None
    # What a crash mid-erasure leaves: the started row, visible in the log.
    [seen] = vp.recent_erasures(catalog, limit=10)
    assert (seen.id, seen.status, seen.actor) == (row.id, ErasureStatus.STARTED, "ops-ann")
    done = vp.end_erasure(catalog, row.id, {"stream_entries": 2, "files_rewritten": 3, "rows": 7})
    assert (done.status, done.stream_entries, done.files_rewritten, done.rows) == ("done", 2, 3, 7)
    assert done.reason is None and done.finished_at is not None
    assert done.finished_at >= done.started_at


def test_a_failed_erasure_keeps_its_reason_and_what_it_removed(catalog: Engine) -> None:
    row = vp.start_erasure(catalog, "bob", "cli")
    assert row.id is not None
    failed = vp.end_erasure(catalog, row.id, {"stream_entries": 4}, reason="OSError: " + "x" * 2000)
    assert failed.status == ErasureStatus.FAILED
    assert (failed.stream_entries, failed.files_rewritten, failed.rows) == (4, 0, 0)
    assert failed.reason is not None and len(failed.reason) == vp.MAX_REASON_CHARS
    [again] = vp.recent_erasures(catalog, limit=1, account="bob")
    assert again.reason == failed.reason


def test_the_log_is_newest_first_and_pages_by_id(catalog: Engine) -> None:
    ids = [vp.start_erasure(catalog, f"acct-{n}", "cli").id for n in range(5)]
    first = vp.recent_erasures(catalog, limit=2)
    assert [r.id for r in first] == ids[:-3:-1]
    rest = vp.recent_erasures(catalog, limit=10, before=first[-1].id)
    assert [r.id for r in rest] == ids[2::-1]
    assert [r.account for r in vp.recent_erasures(catalog, limit=10, account="acct-3")] == [
        "acct-3"
    ]


def test_migration_0005_goes_down_and_up(catalog_url: str) -> None:
    command.downgrade(alembic_config(catalog_url), "0004")
    engine = make_engine(catalog_url)
    tables = set(inspect(engine).get_table_names())
    assert "viewer_privacy" not in tables and "erasure_audit" not in tables
    engine.dispose()
    upgrade(catalog_url)
    engine = make_engine(catalog_url)
    vp.set_consent_choice(engine, "carol", False)
    assert vp.consent_choice(engine, "carol") is False
    engine.dispose()
