"""Player QoE in the catalog: the beacon rows and every query over them.

Written by the rq job (reelflow/jobs/qoe.py, ``insert_beacon``); read by the per-title
aggregates of ``GET /v1/admin/qoe`` (jobs/qoe.py) and the admin console's series and worst
sessions (jobs/qoe_series.py), which turn these rows into their answers. Portable SQL
only, the same on SQLite and PostgreSQL, with one dialect-specific piece: the time bucket
of a row (SQLite ``strftime('%s')``, PostgreSQL ``extract(epoch)``).

- error totals: ``json_array_length(errors)`` (SQLite and PostgreSQL both have it);
- startup percentiles are nearest-rank, never interpolated: read as the single row at a
  rank (``ORDER BY startup_ms LIMIT 1 OFFSET rank-1``) for one title, or with window
  functions (``row_number()`` and ``count()`` over each bucket and group, SQLite 3.25+)
  for the series, where rank(p50) = ceil(n/2) = (n + 1) / 2 and rank(p95) = ceil(95n/100)
  = (95n + 99) / 100 in integer division, so they match ``jobs.qoe.nearest_rank`` exactly.
  No startup values are shipped to Python.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, Integer, Row, case, cast, func, literal, select
from sqlalchemy.engine import Connection, Engine
from sqlmodel import col

from reelflow.catalog.db import session_scope
from reelflow.catalog.models import QoEBeacon

Dimension = Literal["title", "country", "plan", "drm", "device"]
DIMENSIONS: tuple[Dimension, ...] = ("title", "country", "plan", "drm", "device")
SessionOrder = Literal["slowest", "failing"]
UNKNOWN = "unknown"  # beacons stored before migration 0004 have no dimensions


def insert_beacon(engine: Engine, row: QoEBeacon) -> int:
    """Store one beacon row; returns its id."""
    with session_scope(engine) as s:
        s.add(row)
        s.flush()
        assert row.id is not None
        return row.id


def _error_count(errors: Any) -> Any:
    # json_array_length exists under this name on SQLite (JSON1) and PostgreSQL (json).
    return func.json_array_length(errors, type_=Integer)


# ---- per title (GET /v1/admin/qoe) ---------------------------------------------------------


def title_totals(
    conn: Connection, *, since: datetime, title_id: str | None, limit: int
) -> list[Row[*tuple[Any, ...]]]:
    """Per title over beacons received at or after ``since``, busiest first: (title_id,
    beacons, sessions, startup samples, rebuffer count, rebuffer ms, played ms, switches,
    error codes, beacons with errors)."""
    n_errors = _error_count(col(QoEBeacon.errors))
    beacons = func.count().label("beacons")
    stmt = (
        select(
            col(QoEBeacon.title_id),
            beacons,
            func.count(func.distinct(col(QoEBeacon.session_id))),
            func.count(col(QoEBeacon.startup_ms)),  # count(column) skips NULLs
            func.coalesce(func.sum(col(QoEBeacon.rebuffer_count)), 0),
            func.coalesce(func.sum(col(QoEBeacon.rebuffer_ms)), 0.0),
            func.coalesce(func.sum(col(QoEBeacon.played_ms)), 0.0),
            func.coalesce(func.sum(col(QoEBeacon.bitrate_switches)), 0),
            func.coalesce(func.sum(n_errors), 0),
            func.coalesce(func.sum(case((n_errors > 0, 1), else_=0)), 0),
        )
        .where(col(QoEBeacon.received_at) >= since)
        .group_by(col(QoEBeacon.title_id))
        .order_by(beacons.desc(), col(QoEBeacon.title_id))
        .limit(limit)
    )
    if title_id is not None:
        stmt = stmt.where(col(QoEBeacon.title_id) == title_id)
    return list(conn.execute(stmt).all())


def startup_at_rank(conn: Connection, *, title_id: str, since: datetime, rank: int) -> Any:
    """The ``rank``-th smallest startup_ms (1-based) of the title since ``since``; None past
    the end (rows purged since they were counted)."""
    stmt = (
        select(col(QoEBeacon.startup_ms))
        .where(
            col(QoEBeacon.title_id) == title_id,
            col(QoEBeacon.received_at) >= since,
            col(QoEBeacon.startup_ms).is_not(None),
        )
        .order_by(col(QoEBeacon.startup_ms))
        .offset(rank - 1)
        .limit(1)
    )
    return conn.execute(stmt).scalar()


def recent_error_lists(
    conn: Connection, *, title_id: str, since: datetime, limit: int
) -> Sequence[Sequence[Any]]:
    """The error lists of the title's newest ``limit`` beacons that reported errors."""
    stmt = (
        select(col(QoEBeacon.errors))
        .where(
            col(QoEBeacon.title_id) == title_id,
            col(QoEBeacon.received_at) >= since,
            _error_count(col(QoEBeacon.errors)) > 0,
        )
        .order_by(col(QoEBeacon.received_at).desc())
        .limit(limit)
    )
    return list(conn.execute(stmt).scalars())


# ---- series by dimension and worst sessions (admin console) --------------------------------


def _dimension_column(by: Dimension) -> Any:
    column = {
        "title": col(QoEBeacon.title_id),
        "country": col(QoEBeacon.country),
        "plan": col(QoEBeacon.plan),
        "drm": col(QoEBeacon.drm),
        "device": col(QoEBeacon.device_class),
    }[by]
    return func.coalesce(column, literal(UNKNOWN))


def _bucket(dialect: str, bucket_s: int) -> Any:
    received = col(QoEBeacon.received_at)
    if dialect == "sqlite":
        # Stored as UTC wall time (write_beacon converts): %s reads it as UTC seconds.
        epoch: Any = cast(func.strftime("%s", received), Integer)
    else:
        epoch = cast(func.floor(func.extract("epoch", received)), Integer)
    # // is integer (floor) division in SQLAlchemy 2; / would be true division.
    return (epoch // bucket_s) * bucket_s


@dataclass(frozen=True)
class SeriesScope:
    """Which beacons a series reads: received in [since, until), of one title if given."""

    since: datetime
    until: datetime
    by: Dimension
    title_id: str | None = None

    def where(self) -> list[ColumnElement[bool]]:
        window = [
            col(QoEBeacon.received_at) >= self.since,
            col(QoEBeacon.received_at) < self.until,
        ]
        if self.title_id is not None:
            window.append(col(QoEBeacon.title_id) == self.title_id)
        return window


def busiest_groups(conn: Connection, scope: SeriesScope, *, limit: int) -> list[str]:
    """Values of the scope's dimension, most beacons first (then by value)."""
    group = _dimension_column(scope.by)
    stmt = (
        select(group.label("g"), func.count().label("n"))
        .where(*scope.where())
        .group_by(group)
        .order_by(func.count().desc(), group)
        .limit(limit)
    )
    return [str(row[0]) for row in conn.execute(stmt)]


def bucket_totals(
    conn: Connection, scope: SeriesScope, *, bucket_s: int, groups: Sequence[str]
) -> list[Row[*tuple[Any, ...]]]:
    """Per bucket and group: (bucket epoch, group, beacons, sessions, rebuffer ms, played ms,
    sessions that reported errors)."""
    group = _dimension_column(scope.by)
    bucket = _bucket(conn.dialect.name, bucket_s)
    n_errors = _error_count(col(QoEBeacon.errors))
    stmt = (
        select(
            bucket.label("b"),
            group.label("g"),
            func.count(),
            func.count(func.distinct(col(QoEBeacon.session_id))),
            func.coalesce(func.sum(col(QoEBeacon.rebuffer_ms)), 0.0),
            func.coalesce(func.sum(col(QoEBeacon.played_ms)), 0.0),
            func.count(func.distinct(case((n_errors > 0, col(QoEBeacon.session_id))))),
        )
        .where(*scope.where(), group.in_(groups))
        .group_by(bucket, group)
    )
    return list(conn.execute(stmt))


def bucket_startup_percentiles(
    conn: Connection, scope: SeriesScope, *, bucket_s: int, groups: Sequence[str]
) -> dict[tuple[int, str], Row[*tuple[Any, ...]]]:
    """Per (bucket epoch, group): (bucket, group, startup samples, p50 ms, p95 ms)."""
    group = _dimension_column(scope.by)
    bucket = _bucket(conn.dialect.name, bucket_s)
    startup = col(QoEBeacon.startup_ms)
    ranks = (
        select(
            bucket.label("b"),
            group.label("g"),
            startup.label("v"),
            func.row_number().over(partition_by=(bucket, group), order_by=startup).label("rn"),
            func.count().over(partition_by=(bucket, group)).label("n"),
        )
        .where(*scope.where(), group.in_(groups), startup.is_not(None))
        .subquery()
    )
    stmt = select(
        ranks.c.b,
        ranks.c.g,
        func.max(ranks.c.n),
        func.max(case((ranks.c.rn == (ranks.c.n + 1) // 2, ranks.c.v))),
        func.max(case((ranks.c.rn == (ranks.c.n * 95 + 99) // 100, ranks.c.v))),
    ).group_by(ranks.c.b, ranks.c.g)
    return {(int(r[0]), str(r[1])): r for r in conn.execute(stmt)}


def worst_session_rows(
    engine: Engine, *, since: datetime, order: SessionOrder, limit: int
) -> list[Row[*tuple[Any, ...]]]:
    """Per session since ``since``: (session id, title, plan, country, drm, device class,
    first beacon at, startup ms, rebuffer ms, played ms, error codes); the slowest to start
    (``slowest``) or those with most errors (``failing``) first."""
    n_errors = func.coalesce(func.sum(_error_count(col(QoEBeacon.errors))), 0)
    startup = func.max(col(QoEBeacon.startup_ms))
    stmt = (
        select(
            col(QoEBeacon.session_id),
            func.min(col(QoEBeacon.title_id)),
            func.min(_dimension_column("plan")),
            func.min(_dimension_column("country")),
            func.min(_dimension_column("drm")),
            func.min(_dimension_column("device")),
            func.min(col(QoEBeacon.received_at)),
            startup,
            func.coalesce(func.sum(col(QoEBeacon.rebuffer_ms)), 0.0),
            func.coalesce(func.sum(col(QoEBeacon.played_ms)), 0.0),
            n_errors,
        )
        .where(col(QoEBeacon.received_at) >= since)
        .group_by(col(QoEBeacon.session_id))
        .limit(limit)
    )
    if order == "slowest":
        stmt = stmt.having(startup.is_not(None)).order_by(startup.desc(), col(QoEBeacon.session_id))
    else:
        stmt = stmt.having(n_errors > 0).order_by(n_errors.desc(), col(QoEBeacon.session_id))
    with engine.connect() as conn:
        return list(conn.execute(stmt).all())
