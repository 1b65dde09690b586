"""QoE over time, broken down by one dimension, and the worst sessions: the admin console's data.

Computed in SQL over ``qoe_beacons`` (reelflow.jobs.qoe writes the rows) by
reelflow/catalog/qoe_queries.py, which says how (time buckets per dialect, nearest-rank
percentiles with window functions, no startup values shipped to Python); this module checks
the window and assembles the series and session lists.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Engine

from reelflow.catalog.qoe_queries import (
    Dimension,
    SeriesScope,
    SessionOrder,
    bucket_startup_percentiles,
    bucket_totals,
    busiest_groups,
    worst_session_rows,
)

MIN_BUCKET_S = 60
MAX_BUCKETS = 2000
MAX_GROUPS = 20


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
    scope = SeriesScope(since, until, by, title_id)
    with engine.connect() as conn:
        ranked = busiest_groups(conn, scope, limit=max_groups + 1)
        groups = ranked[:max_groups]
        if not groups:
            return Series(since, until, bucket_s, by, [], False, [])
        by_key = bucket_startup_percentiles(conn, scope, bucket_s=bucket_s, groups=groups)
        totals = bucket_totals(conn, scope, bucket_s=bucket_s, groups=groups)
    points = [_point(tuple(row), by_key.get((int(row[0]), str(row[1])))) for row in totals]
    points.sort(key=lambda pt: (pt.bucket_start, groups.index(pt.group)))
    return Series(since, until, bucket_s, by, groups, len(ranked) > max_groups, points)


def _point(totals: tuple[Any, ...], p: Any) -> SeriesPoint:
    b, g, n, sessions, rb_ms, played, failed = totals
    watched = float(played) + float(rb_ms)
    return SeriesPoint(
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
    rows = worst_session_rows(engine, since=since.astimezone(UTC), order=order, limit=limit)
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
