"""State per title version: a re-delivery in progress never moves what players see.

On SQLite and on a real PostgreSQL server (the ``catalog`` fixture). ``titles.state`` and
``availability`` are the live version's; each version's own state and window live in
``title_versions`` until its publish (``make_version_live``) hands them to the title.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from reelflow.catalog import assets as catalog_assets
from reelflow.catalog import titles as q
from reelflow.catalog.db import make_engine, session_scope, upgrade
from reelflow.catalog.models import Package, TitleState, TitleVersion, as_utc, utcnow
from tests.fixtures import catalog_reads as reads

T0 = datetime(2026, 6, 1, tzinfo=UTC)


def version_states(engine: Engine, title_id: str) -> dict[int, str]:
    with Session(engine) as s:
        rows = s.exec(select(TitleVersion).where(TitleVersion.title_id == title_id)).all()
        return {row.version: row.state for row in rows}


def register(engine: Engine, title_id: str, version: int, regions: list[str]) -> None:
    """What register_title writes for a run (catalog_activities)."""
    q.upsert_title(engine, title_id=title_id, name="Film", version=version)
    q.set_availability(
        engine,
        title_id=title_id,
        version=version,
        window_start=T0 + timedelta(days=version),
        window_end=None,
        regions=regions,
    )


def publish(engine: Engine, title_id: str, version: int) -> None:
    """The catalog half of publish_title: the package row, then the older ones removed."""
    with session_scope(engine) as s:
        s.add(
            Package(
                title_id=title_id,
                version=version,
                origin_prefix=f"origin/{title_id}/v{version}",
                mpd_key=f"origin/{title_id}/v{version}/manifest.mpd",
                hls_key=f"origin/{title_id}/v{version}/master.m3u8",
                published_at=utcnow(),
            )
        )
        q.make_version_live(s, title_id, version)
    with session_scope(engine) as s:
        for row in s.exec(
            select(Package).where(Package.title_id == title_id, Package.version < version)
        ):
            row.removed_at = row.removed_at or utcnow()
            s.add(row)
    q.append_event(
        engine,
        title_id=title_id,
        version=version,
        event="published",
        actor="t",
        state=TitleState.PUBLISHED,
    )


def event(engine: Engine, title_id: str, version: int, state: str) -> None:
    q.append_event(engine, title_id=title_id, version=version, event=state, actor="t", state=state)


def test_a_redelivery_in_progress_or_failed_leaves_the_live_version_alone(
    catalog: Engine,
) -> None:
    register(catalog, "film", 1, ["US"])
    for state in ("qc", "processing", "packaging"):
        event(catalog, "film", 1, state)
    publish(catalog, "film", 1)
    assert q.get_title(catalog, "film").state == TitleState.PUBLISHED

    # v2 registers with another window and runs up to its gate, then is rejected.
    register(catalog, "film", 2, ["CA"])
    for state in ("ingesting", "qc", "awaiting_approval"):
        event(catalog, "film", 2, state)
        assert q.get_title(catalog, "film").state == TitleState.PUBLISHED
    event(catalog, "film", 2, TitleState.REJECTED)
    # v3 fails QC, v4 fails outright.
    register(catalog, "film", 3, ["MX"])
    event(catalog, "film", 3, TitleState.QC_FAILED)
    register(catalog, "film", 4, ["BR"])
    event(catalog, "film", 4, TitleState.FAILED)

    title = q.get_title(catalog, "film")
    assert title.state == TitleState.PUBLISHED and title.version == 4
    avail = reads.get_availability(catalog, "film")
    assert avail is not None and avail.regions == ["US"]
    assert as_utc(avail.window_start) == T0 + timedelta(days=1)
    assert version_states(catalog, "film") == {
        1: TitleState.PUBLISHED,
        2: TitleState.REJECTED,
        3: TitleState.QC_FAILED,
        4: TitleState.FAILED,
    }
    with Session(catalog) as s:
        assert q.live_version(s, "film") == 1


def test_publishing_a_version_hands_it_the_title(catalog: Engine) -> None:
    register(catalog, "film", 1, ["US"])
    publish(catalog, "film", 1)
    register(catalog, "film", 2, ["CA", "US"])
    # A window change of v2 before it is live stays v2's.
    q.set_window(
        catalog, title_id="film", version=2, window_start=T0, window_end=T0 + timedelta(days=90)
    )
    avail = reads.get_availability(catalog, "film")
    assert avail is not None and avail.regions == ["US"] and avail.window_end is None

    publish(catalog, "film", 2)
    avail = reads.get_availability(catalog, "film")
    assert avail is not None and avail.regions == ["CA", "US"]
    assert as_utc(avail.window_end) == T0 + timedelta(days=90)
    assert version_states(catalog, "film") == {
        1: TitleState.SUPERSEDED,
        2: TitleState.PUBLISHED,
    }
    # The retired version's late events (its run ends superseded or expired) move nothing.
    event(catalog, "film", 1, TitleState.EXPIRED)
    q.set_window(catalog, title_id="film", version=1, window_start=None, window_end=T0)
    assert q.get_title(catalog, "film").state == TitleState.PUBLISHED
    avail = reads.get_availability(catalog, "film")
    assert avail is not None and as_utc(avail.window_end) == T0 + timedelta(days=90)
    # The live version's own changes do move it.
    q.set_window(catalog, title_id="film", version=2, window_start=None, window_end=T0)
    avail = reads.get_availability(catalog, "film")
    assert avail is not None and as_utc(avail.window_end) == T0


def test_with_no_live_version_the_runs_move_the_title(catalog: Engine) -> None:
    """A first delivery, or a re-delivery after the live one expired: as before."""
    register(catalog, "film", 1, ["US"])
    event(catalog, "film", 1, TitleState.QC_FAILED)
    assert q.get_title(catalog, "film").state == TitleState.QC_FAILED
    register(catalog, "film", 2, ["CA"])
    event(catalog, "film", 2, TitleState.PROCESSING)
    assert q.get_title(catalog, "film").state == TitleState.PROCESSING
    avail = reads.get_availability(catalog, "film")
    assert avail is not None and avail.regions == ["CA"]
    # A run from before per-version state (no version): the title's, as it was.
    q.set_window(catalog, title_id="film", window_start=None, window_end=T0)
    avail = reads.get_availability(catalog, "film")
    assert avail is not None and as_utc(avail.window_end) == T0


def _version_of_length(catalog: Engine, version: int, seconds: float) -> None:
    """What a lifecycle writes for a version of "film" before it publishes."""
    register(catalog, "film", version, [])
    catalog_assets.record_asset(
        catalog,
        title_id="film",
        version=version,
        master_key=f"m{version}",
        sha256=str(version) * 64,
        size_bytes=1,
        probe={"duration_s": seconds},
    )
    q.set_duration(catalog, "film", seconds, version=version)


def test_duration_follows_the_live_version(catalog: Engine) -> None:
    _version_of_length(catalog, 1, 10.0)
    publish(catalog, "film", 1)
    _version_of_length(catalog, 2, 20.0)
    assert q.get_title(catalog, "film").duration_s == 10.0
    publish(catalog, "film", 2)
    assert q.get_title(catalog, "film").duration_s == 20.0


def test_migration_gives_existing_titles_a_version_row(catalog_url: str) -> None:
    """0003 on a catalog with titles: each gets its newest version's row from its state
    and availability (before 0003 those were that version's)."""
    engine = make_engine(catalog_url)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE title_versions"))
        conn.execute(text("UPDATE alembic_version SET version_num = '0002'"))
    q.upsert_title(engine, title_id="old", name="Old", version=3)
    q.upsert_title(engine, title_id="bare", name="Bare")
    with engine.begin() as conn:
        conn.execute(text("UPDATE titles SET state = 'published' WHERE id = 'old'"))
    q.set_availability(engine, title_id="old", window_start=T0, window_end=None, regions=["US"])
    engine.dispose()
    upgrade(catalog_url, "0003")  # the revision under test (0004 adds QoE columns)
    engine = make_engine(catalog_url)
    with Session(engine) as s:
        rows = {(r.title_id, r.version): r for r in s.exec(select(TitleVersion))}
    assert set(rows) == {("old", 3), ("bare", 1)}
    assert rows["old", 3].state == TitleState.PUBLISHED and rows["old", 3].regions == ["US"]
    assert as_utc(rows["old", 3].window_start) == T0
    assert rows["bare", 1].state == TitleState.INGESTING and rows["bare", 1].regions == []
    engine.dispose()


def test_callback_url_and_the_event_log_reads(catalog: Engine) -> None:
    assert q.title_callback_url(catalog, "nope") is None
    q.upsert_title(catalog, title_id="cb", name="Film", callback_url="https://studio.example/h")
    assert q.title_callback_url(catalog, "cb") == "https://studio.example/h"
    q.upsert_title(catalog, title_id="cb2", name="Film")
    assert q.title_callback_url(catalog, "cb2") is None
    for title_id, n in (("cb", 1), ("cb2", 2), ("cb", 3)):
        q.append_event(
            catalog,
            title_id=title_id,
            event="notification_failed",
            actor="t",
            detail={"n": n},
            dedupe_key=f"failed:{n}",
        )
    q.append_event(catalog, title_id="cb", event="published", actor="t")
    assert q.has_event(catalog, "failed:2") and not q.has_event(catalog, "failed:9")
    newest_first = q.events_named(catalog, "notification_failed")
    assert [e.detail["n"] for e in newest_first] == [3, 2, 1]
    assert [
        e.detail["n"] for e in q.events_named(catalog, "notification_failed", title_id="cb")
    ] == [
        3,
        1,
    ]
