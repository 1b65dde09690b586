"""The playback API's catalog reads (and its one write, resume positions).

- a title with its availability and live package (the API's title cache) and a
  package's sealed content keys;
- the viewer listing: titles a viewer may see, by page, by search match, by ids;
- resume positions ("continue watching"), one row per account and title;
- one title's supply-chain record for the admin console (lifecycle, QC, ladder, package);
- the readiness probe of the catalog.

Callers: reelflow/playback_api/delivery/ (title_cache, viewer_catalog, viewing_progress),
routes/admin_qoe.py and http/readiness.py. Everything here is synchronous SQLAlchemy: the
API calls it through ``asyncio.to_thread``. The lifecycle's own reads and writes are
catalog/titles.py and catalog/packages.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import (
    ColumnElement,
    Row,
    Select,
    and_,
    exists,
    func,
    literal,
    or_,
    text,
)
from sqlalchemy import select as core_select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from reelflow.catalog.models import (
    Availability,
    ContentKeyRow,
    LadderRow,
    LifecycleEvent,
    Package,
    QCReportRow,
    Title,
    TitleState,
    ViewingProgress,
    utcnow,
)
from reelflow.catalog.search import match_subquery

# ---- one title for playback ----------------------------------------------------------------


@dataclass(frozen=True)
class TitleRows:
    """A title's rows as playback reads them; ``package`` only for a published title."""

    title: Title
    availability: Availability | None
    package: Package | None  # the newest published, not removed, package


def _live_package(s: Session, title_id: str) -> Package | None:
    return s.exec(
        select(Package)
        .where(
            Package.title_id == title_id,
            col(Package.published_at).is_not(None),
            col(Package.removed_at).is_(None),
        )
        .order_by(col(Package.version).desc())
    ).first()


def title_for_playback(engine: Engine, title_id: str) -> TitleRows | None:
    """The title, its availability and (when published) its live package; None if unknown."""
    with Session(engine) as s:
        title = s.get(Title, title_id)
        if title is None:
            return None
        live = _live_package(s, title.id) if title.state == TitleState.PUBLISHED else None
        return TitleRows(title, s.get(Availability, title_id), live)


def package_key_rows(engine: Engine, title_id: str, version: int) -> list[ContentKeyRow]:
    """The sealed content keys of one package (every track class, revoked ones too)."""
    with Session(engine) as s:
        return list(
            s.exec(
                select(ContentKeyRow).where(
                    ContentKeyRow.title_id == title_id, ContentKeyRow.version == version
                )
            ).all()
        )


# ---- the viewer listing --------------------------------------------------------------------


def _json_array_has(dialect: str, array: Any, value: ColumnElement[Any]) -> ColumnElement[bool]:
    """SQL for "the JSON array column ``array`` holds ``value``" (case-insensitive)."""
    fn = func.json_each if dialect == "sqlite" else func.json_array_elements_text
    elements = fn(array).table_valued("value").alias("elements")
    # lower() on both sides: SQLite's lower() folds ASCII only, so folding the parameter in
    # Python could disagree with it on non-ASCII capitals.
    return exists(
        core_select(literal(1))
        .select_from(elements)
        .where(func.lower(elements.c.value) == func.lower(value))
    )


def _visible_select(
    dialect: str, *, country: str, now: datetime, genre: str | None
) -> Select[*tuple[Any, ...]]:
    """Published titles with a live package, in their window and region (and genre).

    SQL only narrows: the caller's entitlement check has the final word on every row.
    """
    # The live package is the newest published, not removed version: the one the title
    # cache serves playback from (a version being replaced stays live until the new one is).
    newest = (
        core_select(
            col(Package.title_id).label("title_id"), func.max(Package.version).label("version")
        )
        .where(col(Package.published_at).is_not(None), col(Package.removed_at).is_(None))
        .group_by(col(Package.title_id))
        .subquery("newest")
    )
    regions = col(Availability.regions)
    stmt = (
        core_select(
            col(Title.id),
            col(Title.name),
            col(Title.synopsis),
            col(Title.genres),
            col(Title.rating),
            col(Title.duration_s),
            col(Title.state),
            col(Package.published_at),
            col(Package.artwork),
            col(Availability.window_start),
            col(Availability.window_end),
            regions,
            col(Availability.plans),
        )
        .select_from(Title)
        .join(newest, newest.c.title_id == col(Title.id))
        .join(
            Package,
            and_(
                col(Package.title_id) == newest.c.title_id,
                col(Package.version) == newest.c.version,
            ),
        )
        .outerjoin(Availability, col(Availability.title_id) == col(Title.id))
        .where(
            col(Title.state) == TitleState.PUBLISHED,
            col(Package.mpd_key).is_not(None),
            col(Package.hls_key).is_not(None),
            or_(col(Availability.window_start).is_(None), col(Availability.window_start) <= now),
            or_(col(Availability.window_end).is_(None), col(Availability.window_end) > now),
            or_(
                regions.is_(None),
                func.json_array_length(regions) == 0,
                _json_array_has(dialect, regions, literal(country.upper())),
            ),
        )
    )
    if genre is not None:
        stmt = stmt.where(_json_array_has(dialect, col(Title.genres), literal(genre)))
    return stmt


def visible_page_rows(
    engine: Engine,
    *,
    country: str,
    now: datetime,
    genre: str | None,
    after: tuple[datetime, str] | None,
    limit: int,
) -> list[Row[Any]]:
    """Up to ``limit`` listable rows, newest published first (then id), after the
    ``(published_at, title_id)`` position ``after``."""
    stmt = _visible_select(engine.dialect.name, country=country, now=now, genre=genre)
    published_at, title_id = col(Package.published_at), col(Title.id)
    if after is not None:
        stmt = stmt.where(
            or_(
                published_at < after[0],
                and_(published_at == after[0], title_id < after[1]),
            )
        )
    stmt = stmt.order_by(published_at.desc(), title_id.desc()).limit(limit)
    with engine.connect() as conn:
        return list(conn.execute(stmt))


def visible_match_rows(
    engine: Engine, q: str, *, country: str, now: datetime, limit: int, offset: int
) -> list[Row[Any]]:
    """Listable rows matching the search ``q``, most relevant first (then newest, then id)."""
    dialect = engine.dialect.name
    matches = match_subquery(dialect, q)
    if matches is None:
        return []
    stmt = (
        _visible_select(dialect, country=country, now=now, genre=None)
        .join(matches, matches.c.title_id == col(Title.id))
        .order_by(matches.c.score.desc(), col(Package.published_at).desc(), col(Title.id).desc())
    )
    with engine.connect() as conn:
        return list(conn.execute(stmt.limit(limit).offset(offset)))


def visible_rows_by_ids(
    engine: Engine, ids: Sequence[str], *, country: str, now: datetime
) -> list[Row[Any]]:
    """The listable rows among ``ids`` (any order)."""
    stmt = _visible_select(engine.dialect.name, country=country, now=now, genre=None).where(
        col(Title.id).in_(ids)
    )
    with engine.connect() as conn:
        return list(conn.execute(stmt))


# ---- resume positions ----------------------------------------------------------------------


def save_progress(
    engine: Engine, account: str, title_id: str, position_s: float, duration_s: float | None
) -> None:
    """Store the account's position in the title (and its duration, when known).

    One statement, inserting or updating on the key: two first saves at once (a heartbeat
    and the session's end, two devices of one account) must not both insert."""
    values: dict[str, Any] = {
        "account": account,
        "title_id": title_id,
        "position_s": position_s,
        "updated_at": utcnow(),
    }
    if duration_s:
        values["duration_s"] = duration_s
    insert = postgresql_insert if engine.dialect.name == "postgresql" else sqlite_insert
    stmt = insert(ViewingProgress).values(**values)
    changed = {k: stmt.excluded[k] for k in values if k not in ("account", "title_id")}
    stmt = stmt.on_conflict_do_update(index_elements=["account", "title_id"], set_=changed)
    with engine.begin() as conn:
        conn.execute(stmt)


def progress_row(engine: Engine, account: str, title_id: str) -> ViewingProgress | None:
    with Session(engine) as s:
        return s.get(ViewingProgress, (account, title_id))


def recent_progress(engine: Engine, account: str, limit: int = 50) -> list[ViewingProgress]:
    """The account's progress rows, most recent first."""
    with Session(engine) as s:
        stmt = (
            select(ViewingProgress)
            .where(ViewingProgress.account == account)
            .order_by(col(ViewingProgress.updated_at).desc())
            .limit(limit)
        )
        return list(s.exec(stmt))


# ---- the admin console's title record ------------------------------------------------------


@dataclass(frozen=True)
class TitleRecord:
    """One title's newest version as stored: its lifecycle, QC report, ladder and package."""

    title: Title
    events: list[LifecycleEvent]  # oldest first
    qc: QCReportRow | None
    ladder: LadderRow | None
    package: Package | None


def title_record(engine: Engine, title_id: str, *, max_events: int) -> TitleRecord | None:
    """The record of the title's current version; None for an unknown title."""
    with Session(engine) as s:
        title = s.get(Title, title_id)
        if title is None:
            return None
        version = title.version
        events = s.exec(
            select(LifecycleEvent)
            .where(LifecycleEvent.title_id == title_id, LifecycleEvent.version == version)
            .order_by(col(LifecycleEvent.at), col(LifecycleEvent.id))
            .limit(max_events)
        ).all()
        qc = _newest(s, QCReportRow, title_id, version)
        ladder = s.exec(
            select(LadderRow).where(LadderRow.title_id == title_id, LadderRow.version == version)
        ).first()
        package = _newest(s, Package, title_id, version)
        return TitleRecord(title, list(events), qc, ladder, package)


_PerVersion = TypeVar("_PerVersion", QCReportRow, Package)


def _newest(
    s: Session, model: type[_PerVersion], title_id: str, version: int
) -> _PerVersion | None:
    """The newest row of ``model`` for one version (a re-run adds a row; the last counts)."""
    return s.exec(
        select(model)
        .where(model.title_id == title_id, model.version == version)
        .order_by(col(model.id).desc())
    ).first()


# ---- readiness -----------------------------------------------------------------------------


def ping(engine: Engine) -> None:
    """One round trip to the catalog; raises whatever the driver raises when it is down."""
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
