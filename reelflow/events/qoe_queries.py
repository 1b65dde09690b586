"""QoE from the event log: what ``GET /v1/admin/qoe`` and the admin console answer.

Named DuckDB queries over the ``qoe`` events (``events.queries.connect``: one row per event
id, reading only the hour partitions the window overlaps). A beacon's time is when the API
accepted it (``server_ts``), as ``received_at`` was for the catalog rows these replace.

- per title: beacons, distinct sessions, start-up p50/p95, rebuffer ratio, totals, and the
  most reported error codes, all exact (every beacon with errors is read, not a sample);
- series: the same measures per time bucket (buckets aligned on the epoch) and per value of
  one dimension (title, country, plan, DRM system, device class; ``unknown`` where a beacon
  has none, e.g. a ``qoe`` event a player sent to ``POST /v1/events``), busiest groups kept;
- sessions: the slowest to start, or those that reported the most errors.

Percentiles are nearest-rank: ``quantile_disc`` is the ceil(p*n)-th smallest value, always an
observed one (over [100, 200, 300, 400, 1000], p50 is 300 and p95 is 1000), over the beacons
that reported a start-up time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from reelflow.events.queries import EventFiles, connect

Dimension = Literal["title", "country", "plan", "drm", "device"]
SessionOrder = Literal["slowest", "failing"]
UNKNOWN = "unknown"
# The column behind each dimension: a closed set, the only text put into the SQL.
_COLUMNS: dict[str, str] = {
    "title": "title",
    "country": "country",
    "plan": "plan",
    "drm": "drm",
    "device": "device_class",
}

DEFAULT_MAX_TITLES = 100
MAX_TITLES = 500
TOP_ERROR_CODES = 10
MIN_BUCKET_S = 60
MAX_BUCKETS = 2000
MAX_GROUPS = 20


@dataclass(frozen=True)
class ErrorCount:
    code: str
    count: int


@dataclass(frozen=True)
class TitleQoE:
    title_id: str
    beacons: int
    sessions: int  # distinct session ids
    startup_samples: int  # beacons that reported startup_ms
    startup_p50_ms: float | None
    startup_p95_ms: float | None
    rebuffer_ratio: float | None  # None when nothing was played or stalled
    rebuffer_count: int
    rebuffer_ms: float
    played_ms: float
    bitrate_switches: int
    error_count: int  # error codes reported, over every beacon
    beacons_with_errors: int
    top_errors: list[ErrorCount]  # the most reported codes, ties by code


@dataclass(frozen=True)
class QoEReport:
    since: datetime
    titles: list[TitleQoE]
    truncated: bool  # more titles had beacons than max_titles


def _ratio(rebuffer_ms: float, played_ms: float) -> float | None:
    watched = played_ms + rebuffer_ms
    return rebuffer_ms / watched if watched > 0 else None


def _measures(
    n: Any, sessions: Any, samples: Any, p50: Any, p95: Any, rb_ms: Any, played: Any
) -> dict[str, Any]:
    """What a per-title row and a series point share, from DuckDB's values."""
    return {
        "beacons": int(n),
        "sessions": int(sessions),
        "startup_samples": int(samples),
        "startup_p50_ms": None if p50 is None else float(p50),
        "startup_p95_ms": None if p95 is None else float(p95),
        "rebuffer_ratio": _ratio(float(rb_ms), float(played)),
    }


def _utc(name: str, value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError(f"{name} needs a UTC offset")
    return value.astimezone(UTC)


# ---- per title (GET /v1/admin/qoe) ---------------------------------------------------------

_TITLE_TOTALS = """
SELECT title, count(*) AS beacons, count(DISTINCT session), count(startup_ms),
       quantile_disc(startup_ms, 0.5), quantile_disc(startup_ms, 0.95),
       coalesce(sum(rebuffer_count), 0), coalesce(sum(rebuffer_ms), 0),
       coalesce(sum(played_ms), 0), coalesce(sum(bitrate_switches), 0),
       coalesce(sum(len(errors)), 0), count(*) FILTER (WHERE len(errors) > 0)
FROM qoe WHERE server_ts >= $since AND (NOT $one OR title = $title)
GROUP BY title ORDER BY beacons DESC, title LIMIT $limit
"""
_TOP_ERRORS = """
WITH codes AS (
  SELECT title, unnest(errors) AS code FROM qoe
  WHERE server_ts >= $since AND list_contains($titles, title)
)
SELECT title, code, count(*) AS n FROM codes GROUP BY title, code
QUALIFY row_number() OVER (PARTITION BY title ORDER BY n DESC, code) <= $top
ORDER BY title, n DESC, code
"""


def qoe_report(
    files: EventFiles,
    *,
    since: datetime,
    title_id: str | None = None,
    max_titles: int = DEFAULT_MAX_TITLES,
) -> QoEReport:
    """Per-title QoE over beacons accepted at or after ``since``, busiest titles first.

    rebuffer_ratio = sum(rebuffer_ms) / (sum(played_ms) + sum(rebuffer_ms))."""
    since = _utc("since", since)
    if not 1 <= max_titles <= MAX_TITLES:
        raise ValueError(f"max_titles must be 1..{MAX_TITLES}")
    with connect(files, ("qoe",), (since, None)) as con:
        # One extra row tells whether the list was cut.
        params = {"since": since, "one": title_id is not None, "title": title_id or ""}
        rows = con.execute(_TITLE_TOTALS, {**params, "limit": max_titles + 1}).fetchall()
        kept = rows[:max_titles]
        top: dict[str, list[ErrorCount]] = {str(r[0]): [] for r in kept}
        if any(r[10] for r in kept):
            query = {"since": since, "titles": list(top), "top": TOP_ERROR_CODES}
            for title, code, n in con.execute(_TOP_ERRORS, query).fetchall():
                top[str(title)].append(ErrorCount(str(code), int(n)))
    return QoEReport(since, [_title(row, top[str(row[0])]) for row in kept], len(rows) > max_titles)


def _title(row: tuple[Any, ...], top: list[ErrorCount]) -> TitleQoE:
    (title, n, sessions, samples, p50, p95, rb_count, rb_ms, played, switches, n_err, err_n) = row
    return TitleQoE(
        title_id=str(title),
        **_measures(n, sessions, samples, p50, p95, rb_ms, played),
        rebuffer_count=int(rb_count),
        rebuffer_ms=float(rb_ms),
        played_ms=float(played),
        bitrate_switches=int(switches),
        error_count=int(n_err),
        beacons_with_errors=int(err_n),
        top_errors=top,
    )


# ---- series by dimension (admin console) ---------------------------------------------------


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


_GROUPS = """
SELECT coalesce({col}, '{unknown}') AS g, count(*) AS n FROM qoe
WHERE server_ts >= $since AND server_ts < $until AND (NOT $one OR title = $title)
GROUP BY g ORDER BY n DESC, g LIMIT $limit
"""
_POINTS = """
SELECT (epoch_us(server_ts) // $bucket_us) * $bucket_s AS b, coalesce({col}, '{unknown}') AS g,
       count(*), count(DISTINCT session), count(startup_ms),
       quantile_disc(startup_ms, 0.5), quantile_disc(startup_ms, 0.95),
       coalesce(sum(rebuffer_ms), 0), coalesce(sum(played_ms), 0),
       count(DISTINCT session) FILTER (WHERE len(errors) > 0)
FROM qoe
WHERE server_ts >= $since AND server_ts < $until AND (NOT $one OR title = $title)
  AND list_contains($groups, g)
GROUP BY b, g
"""


def _check_series(since: datetime, until: datetime, bucket_s: int, max_groups: int) -> None:
    if until <= since:
        raise ValueError("until must be after since")
    if bucket_s < MIN_BUCKET_S:
        raise ValueError(f"bucket_s must be at least {MIN_BUCKET_S}")
    if (until - since).total_seconds() / bucket_s > MAX_BUCKETS:
        raise ValueError(f"at most {MAX_BUCKETS} buckets: widen bucket_s or narrow the window")
    if not 1 <= max_groups <= MAX_GROUPS:
        raise ValueError(f"max_groups must be 1..{MAX_GROUPS}")


def qoe_timeseries(
    files: EventFiles,
    *,
    since: datetime,
    until: datetime,
    by: Dimension,
    bucket_s: int,
    title_id: str | None = None,
    max_groups: int = 10,
) -> Series:
    """Start-up p50/p95, rebuffer ratio and failed sessions per time bucket and group, over
    beacons accepted in [since, until)."""
    since, until = _utc("since", since), _utc("until", until)
    _check_series(since, until, bucket_s, max_groups)
    sql = {"col": _COLUMNS[by], "unknown": UNKNOWN}
    scope = {"since": since, "until": until, "one": title_id is not None, "title": title_id or ""}
    with connect(files, ("qoe",), (since, until)) as con:
        ranked = con.execute(_GROUPS.format(**sql), {**scope, "limit": max_groups + 1}).fetchall()
        groups = [str(g) for g, _ in ranked[:max_groups]]
        rows = []
        if groups:
            buckets = {"bucket_s": bucket_s, "bucket_us": bucket_s * 1_000_000, "groups": groups}
            rows = con.execute(_POINTS.format(**sql), {**scope, **buckets}).fetchall()
    points = [_point(tuple(row)) for row in rows]
    points.sort(key=lambda pt: (pt.bucket_start, groups.index(pt.group)))
    return Series(since, until, bucket_s, by, groups, len(ranked) > max_groups, points)


def _point(row: tuple[Any, ...]) -> SeriesPoint:
    b, g, n, sessions, samples, p50, p95, rb_ms, played, failed = row
    return SeriesPoint(
        bucket_start=datetime.fromtimestamp(int(b), UTC),
        group=str(g),
        **_measures(n, sessions, samples, p50, p95, rb_ms, played),
        failed_sessions=int(failed),
    )


# ---- the worst sessions (admin console) ----------------------------------------------------


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


_SESSIONS = """
SELECT session, min(title), {dims}, min(server_ts), max(startup_ms) AS startup,
       coalesce(sum(rebuffer_ms), 0), coalesce(sum(played_ms), 0),
       coalesce(sum(len(errors)), 0) AS n_errors
FROM qoe WHERE server_ts >= $since AND session IS NOT NULL
GROUP BY session HAVING {having} ORDER BY {order}, session LIMIT $limit
"""
_ORDERS: dict[str, tuple[str, str]] = {
    "slowest": ("startup IS NOT NULL", "startup DESC"),
    "failing": ("n_errors > 0", "n_errors DESC"),
}


def qoe_sessions(
    files: EventFiles, *, since: datetime, order: SessionOrder, limit: int = 20
) -> list[SessionQoE]:
    """The slowest sessions to start (highest start-up), or the ones that reported errors
    (most error codes first), over beacons accepted since ``since``."""
    since = _utc("since", since)
    having, order_by = _ORDERS[order]
    dims = ", ".join(
        f"min(coalesce({_COLUMNS[d]}, '{UNKNOWN}'))" for d in ("plan", "country", "drm", "device")
    )
    sql = _SESSIONS.format(dims=dims, having=having, order=order_by)
    with connect(files, ("qoe",), (since, None)) as con:
        rows = con.execute(sql, {"since": since, "limit": limit}).fetchall()
    return [
        SessionQoE(
            session_id=str(r[0]),
            title_id=str(r[1]),
            plan=str(r[2]),
            country=str(r[3]),
            drm=str(r[4]),
            device_class=str(r[5]),
            first_at=r[6].astimezone(UTC),
            startup_ms=None if r[7] is None else float(r[7]),
            rebuffer_ms=float(r[8]),
            played_ms=float(r[9]),
            error_count=int(r[10]),
        )
        for r in rows
    ]
