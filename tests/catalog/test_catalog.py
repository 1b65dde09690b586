"""Catalog tables, queries and migrations, on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from reelflow.catalog import assets as catalog_assets
from reelflow.catalog import titles as q
from reelflow.catalog.db import SchemaBehind, check_schema, head_revision, make_engine, upgrade
from reelflow.catalog.models import ContentKeyRow, TitleState, as_utc
from tests.fixtures import catalog_reads as reads


def test_schema_is_at_head_after_upgrade(catalog: Engine) -> None:
    check_schema(catalog)  # raises if behind
    with catalog.connect() as conn:
        rev = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    assert rev == head_revision()


def test_empty_database_is_refused_with_the_fix_named(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    with pytest.raises(SchemaBehind, match="reelflow db upgrade"):
        check_schema(engine)


def test_upgrade_is_idempotent(catalog_url: str) -> None:
    upgrade(catalog_url)
    upgrade(catalog_url)
    check_schema(make_engine(catalog_url))


def test_title_round_trip_and_state(catalog: Engine) -> None:
    q.upsert_title(catalog, title_id="t1", name="First", genres=["drama", "mystery"])
    q.upsert_title(catalog, title_id="t1", name="First (renamed)", genres=["drama"])
    title = q.get_title(catalog, "t1")
    assert title.name == "First (renamed)"
    assert title.genres == ["drama"]
    assert title.state == TitleState.INGESTING
    q.append_event(
        catalog, title_id="t1", event="published", actor="test", state=TitleState.PUBLISHED
    )
    assert [t.id for t in q.list_titles(catalog, state=TitleState.PUBLISHED)] == ["t1"]
    with pytest.raises(q.TitleNotFound, match="nope"):
        q.get_title(catalog, "nope")


def test_lifecycle_events_are_append_only_and_deduplicated(catalog: Engine) -> None:
    q.upsert_title(catalog, title_id="t2", name="Second")
    assert q.append_event(
        catalog, title_id="t2", event="ingested", actor="worker", state="qc", dedupe_key="t2:1:i"
    )
    # An activity retry records the same transition again: it must not duplicate.
    assert not q.append_event(
        catalog, title_id="t2", event="ingested", actor="worker", state="qc", dedupe_key="t2:1:i"
    )
    q.append_event(catalog, title_id="t2", event="note", actor="ops:alice", detail={"x": 1})
    events = reads.events_for(catalog, "t2")
    assert [e.event for e in events] == ["ingested", "note"]
    assert events[1].detail == {"x": 1}
    assert q.get_title(catalog, "t2").state == "qc"


def test_availability_times_come_back_as_utc(catalog: Engine) -> None:
    q.upsert_title(catalog, title_id="t4", name="Fourth")
    start = datetime(2026, 1, 1, 12, tzinfo=UTC)
    q.set_availability(
        catalog,
        title_id="t4",
        window_start=start,
        window_end=start + timedelta(days=30),
        regions=["US", "CA"],
        plans=["premium"],
    )
    row = reads.get_availability(catalog, "t4")
    assert row is not None
    assert as_utc(row.window_start) == start
    assert row.regions == ["US", "CA"] and row.plans == ["premium"]


def test_content_key_stored_as_bytes(catalog: Engine) -> None:
    q.upsert_title(catalog, title_id="t5", name="Fifth")
    with Session(catalog) as s:
        s.add(
            ContentKeyRow(
                kid="00" * 16,
                title_id="t5",
                version=1,
                track_class="hd",
                sealed_key=b"\x01\x02\xff" * 10,
            )
        )
        s.commit()
        row = s.get(ContentKeyRow, "00" * 16)
        assert row is not None and row.sealed_key == b"\x01\x02\xff" * 10 and not row.revoked


def test_foreign_keys_enforced(catalog: Engine) -> None:
    with pytest.raises(Exception, match=r"(?i)foreign key"):
        catalog_assets.record_asset(
            catalog, title_id="ghost", version=1, master_key="m", sha256="0" * 64, size_bytes=1
        )
