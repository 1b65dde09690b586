"""QoE over time, broken down by one dimension, and the worst sessions: the admin console's data.

Everything is computed in SQL over ``qoe_beacons`` (reelflow.jobs.qoe writes the rows), with
one dialect-specific piece, the time bucket of a row (SQLite ``strftime('%s')``, PostgreSQL
``extract(epoch)``). Startup percentiles are nearest-rank, as in ``GET /v1/admin/qoe``, read
with window functions (``row_number()`` and ``count()`` over each bucket and group), which
SQLite (3.25+) and PostgreSQL both have: no startup values are shipped to Python.

rank(p50) = ceil(n/2) = (n + 1) / 2 and rank(p95) = ceil(95n/100) = (95n + 99) / 100, in
integer division, so they match :func:`reelflow.jobs.qoe.nearest_rank` exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import Integer, case, cast, func, literal, select
from sqlalchemy.engine import Engine
from sqlmodel import col

from reelflow.catalog.models import QoEBeacon

Dimension = Literal["title", "country", "plan", "drm", "device"]
DIMENSIONS: tuple[Dimension, ...] = ("title", "country", "plan", "drm", "device")
SessionOrder = Literal["slowest", "failing"]
UNKNOWN = "unknown"  # beacons stored before migration 0004 have no dimensions
MIN_BUCKET_S = 60
MAX_BUCKETS = 2000
MAX_GROUPS = 20


def _dimension_column(by: Dimension) -> Any:
    column = {
        "title": col(QoEBeacon.title_id),
        "country": col(QoEBeacon.country),
        "plan": col(QoEBeacon.plan),
        "drm": col(QoEBeacon.drm),
        "device": col(QoEBeacon.device_class),
    }[by]
    return func.coalesce(column, literal(UNKNOWN))


def _bucket(engine: Engine, bucket_s: int) -> Any:
    received = col(QoEBeacon.received_at)
    if engine.dialect.name == "sqlite":
        # Stored as UTC wall time (write_beacon converts): %s reads it as UTC seconds.
        epoch: Any = cast(func.strftime("%s", received), Integer)
    else:
        epoch = cast(func.floor(func.extract("epoch", received)), Integer)
    # // is integer (floor) division in SQLAlchemy 2; / would be true division.
    return (epoch // bucket_s) * bucket_s


@dataclass(frozen=True)
class SeriesPoint:
    bucket_start: datetime
    group: str
    beacons: int
    sessions: int
    startup_samples: int
    startup_p50_ms: float | None
    startup_p95_ms: float | None
    rebuffer_ratio: float | None
    failed_sessions: int  # sessions with at least one error in this bucket


@dataclass(frozen=True)
class Series:
    since: datetime
    until: datetime
    bucket_s: int
    by: Dimension
    groups: list[str]  # busiest first; at most max_groups
    truncated: bool  # more groups had beacons than max_groups
    points: list[SeriesPoint]


def qoe_timeseries(
    engine: Engine,
    *,
    since: datetime,
    until: datetime,
    by: Dimension,
    bucket_s: int,
    title_id: str | None = None,
    max_groups: int = 10,
) -> Series:
    """Startup p50/p95, rebuffer ratio and failed sessions per time bucket and group."""
    if since.tzinfo is None or until.tzinfo is None:
        raise ValueError("since and until need a UTC offset")
    if until <= since:
        raise ValueError("until must be after since")
    if bucket_s < MIN_BUCKET_S:
        raise ValueError(f"bucket_s must be at least {MIN_BUCKET_S}")
    if (until - since).total_seconds() / bucket_s > MAX_BUCKETS:
        raise ValueError(f"at most {MAX_BUCKETS} buckets: widen bucket_s or narrow the window")
    if not 1 <= max_groups <= MAX_GROUPS:
        raise ValueError(f"max_groups must be 1..{MAX_GROUPS}")
    since, until = since.astimezone(UTC), until.astimezone(UTC)
    group = _dimension_column(by)
    window = [
        col(QoEBeacon.received_at) >= since,
        col(QoEBeacon.received_at) < until,
    ]
    if title_id is not None:
        window.append(col(QoEBeacon.title_id) == title_id)
    busiest = (
        select(group.label("g"), func.count().label("n"))
        .where(*window)
        .group_by(group)
        .order_by(func.count().desc(), group)
        .limit(max_groups + 1)
    )
    bucket = _bucket(engine, bucket_s)
    with engine.connect() as conn:
        ranked = [str(row[0]) for row in conn.execute(busiest)]
        groups = ranked[:max_groups]
        if not groups:
            return Series(since, until, bucket_s, by, [], False, [])
        scoped = [*window, group.in_(groups)]
        n_errors = func.json_array_length(col(QoEBeacon.errors), type_=Integer)
        totals = (
            select(
                bucket.label("b"),
                group.label("g"),
                func.count(),
                func.count(func.distinct(col(QoEBeacon.session_id))),
                func.coalesce(func.sum(col(QoEBeacon.rebuffer_ms)), 0.0),
                func.coalesce(func.sum(col(QoEBeacon.played_ms)), 0.0),
                func.count(func.distinct(case((n_errors > 0, col(QoEBeacon.session_id))))),
            )
            .where(*scoped)
            .group_by(bucket, group)
        )
        startup = col(QoEBeacon.startup_ms)
        ranks = (
            select(
                bucket.label("b"),
                group.label("g"),
                startup.label("v"),
                func.row_number().over(partition_by=(bucket, group), order_by=startup).label("rn"),
                func.count().over(partition_by=(bucket, group)).label("n"),
            )
            .where(*scoped, startup.is_not(None))
            .subquery()
        )
        percentiles = select(
            ranks.c.b,
            ranks.c.g,
            func.max(ranks.c.n),
            func.max(case((ranks.c.rn == (ranks.c.n + 1) // 2, ranks.c.v))),
            func.max(case((ranks.c.rn == (ranks.c.n * 95 + 99) // 100, ranks.c.v))),
        ).group_by(ranks.c.b, ranks.c.g)
        by_key = {(int(r[0]), str(r[1])): r for r in conn.execute(percentiles)}
        points = []
        for b, g, n, sessions, rb_ms, played, failed in conn.execute(totals):
            watched = float(played) + float(rb_ms)
            p = by_key.get((int(b), str(g)))
            points.append(
                SeriesPoint(
                    bucket_start=datetime.fromtimestamp(int(b), UTC),
                    group=str(g),
                    beacons=int(n),
                    sessions=int(sessions),
                    startup_samples=int(p[2]) if p else 0,
                    startup_p50_ms=float(p[3]) if p and p[3] is not None else None,
                    startup_p95_ms=float(p[4]) if p and p[4] is not None else None,
                    rebuffer_ratio=float(rb_ms) / watched if watched > 0 else None,
                    failed_sessions=int(failed),
                )
            )
    points.sort(key=lambda pt: (pt.bucket_start, groups.index(pt.group)))
    return Series(since, until, bucket_s, by, groups, len(ranked) > max_groups, points)


@dataclass(frozen=True)
class SessionQoE:
    session_id: str
    title_id: str
    plan: str
    country: str
    drm: str
    device_class: str
    first_at: datetime
    startup_ms: float | None
    rebuffer_ms: float
    played_ms: float
    error_count: int


def qoe_sessions(
    engine: Engine, *, since: datetime, order: SessionOrder, limit: int = 20
) -> list[SessionQoE]:
    """The slowest sessions to start (highest startup_ms), or the ones that reported errors
    (most errors first), over beacons received since `since`."""
    if since.tzinfo is None:
        raise ValueError("since needs a UTC offset")
    n_errors = func.coalesce(
        func.sum(func.json_array_length(col(QoEBeacon.errors), type_=Integer)), 0
    )
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
        .where(col(QoEBeacon.received_at) >= since.astimezone(UTC))
        .group_by(col(QoEBeacon.session_id))
        .limit(limit)
    )
    if order == "slowest":
        stmt = stmt.having(startup.is_not(None)).order_by(startup.desc(), col(QoEBeacon.session_id))
    else:
        stmt = stmt.having(n_errors > 0).order_by(n_errors.desc(), col(QoEBeacon.session_id))
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
    return [
        SessionQoE(
            session_id=str(r[0]),
            title_id=str(r[1]),
            plan=str(r[2]),
            country=str(r[3]),
            drm=str(r[4]),
            device_class=str(r[5]),
            first_at=r[6] if r[6].tzinfo else r[6].replace(tzinfo=UTC),
            startup_ms=float(r[7]) if r[7] is not None else None,
            rebuffer_ms=float(r[8]),
            played_ms=float(r[9]),
            error_count=int(r[10]),
        )
        for r in rows
    ]
