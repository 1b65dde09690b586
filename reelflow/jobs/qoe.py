"""Player QoE beacons: the rq job that stores one report, and the per-title aggregates.

``POST /v1/qoe`` validates a beacon and enqueues :func:`record_beacon`, so a burst of player
reports never waits on the catalog database; the rq worker (``reelflow worker --queue rq``)
writes the rows. The API stamps ``received_at`` when it accepts a beacon, so a queue backlog
does not move beacons into a later aggregation window.

:func:`qoe_aggregates` answers ``GET /v1/admin/qoe`` with portable SQL only (the same code
runs on SQLite and PostgreSQL):

- counts and sums: one ``GROUP BY title_id`` over the window, exact over every row;
- startup percentiles: nearest-rank (see :func:`nearest_rank`), each read as the single row
  at that rank (``ORDER BY startup_ms LIMIT 1 OFFSET rank-1``), so they are exact and no
  startup values are shipped to Python;
- error totals: ``json_array_length(errors)`` (SQLite and PostgreSQL both have it), exact;
- top error codes: tallied in Python from the newest ``error_sample_rows`` beacons that carry
  errors, the one place rows are read; the answer says when that sample was cut short.

The SQL is reelflow/catalog/qoe_queries.py; this module validates, ranks and assembles.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from redis import Redis
from rq import Retry
from sqlalchemy.engine import Connection, Engine

from reelflow.catalog.models import QoEBeacon
from reelflow.catalog.qoe_queries import (
    insert_beacon,
    recent_error_lists,
    startup_at_rank,
    title_totals,
)
from reelflow.config import Settings, get_settings
from reelflow.jobs.queue import get_queue, job_catalog

# A failed insert (database restarting, lock timeout) is retried by rq's scheduler.
RETRY_INTERVALS: tuple[int, ...] = (5, 30, 120)
JOB_TIMEOUT_S = 60
# The row is the job's result, so finished jobs leave Redis soon; failed ones stay a week
# so an operator can inspect and requeue them.
RESULT_TTL_S = 300
FAILURE_TTL_S = 7 * 24 * 3600

PERCENTILES: tuple[float, ...] = (0.5, 0.95)
DEFAULT_MAX_TITLES = 100
MAX_TITLES = 500
DEFAULT_ERROR_SAMPLE_ROWS = 5000
TOP_ERROR_CODES = 10


@dataclass(frozen=True)
class Beacon:
    """One accepted beacon, as the rq job's argument (a plain dict on the wire)."""

    title_id: str
    session_id: str
    account: str
    received_at: str  # ISO 8601 with a UTC offset, stamped by the API on acceptance
    startup_ms: float | None = None
    rebuffer_count: int = 0
    rebuffer_ms: float = 0.0
    played_ms: float = 0.0
    bitrate_switches: int = 0
    errors: tuple[str, ...] = field(default_factory=tuple)
    plan: str | None = None
    country: str | None = None
    drm: str | None = None
    device_class: str | None = None

    def to_payload(self) -> dict[str, Any]:
        payload = asdict(self)
        payload["errors"] = list(self.errors)
        return payload

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Beacon:
        data = dict(payload)
        data["errors"] = tuple(data.get("errors") or ())
        return cls(**data)


# ---- enqueue and the rq job -------------------------------------------------------------


def enqueue_beacon(settings: Settings, beacon: Beacon, connection: Redis | None = None) -> str:
    """Put the beacon on the rq queue; returns the rq job id. Raises redis errors as is."""
    queue = get_queue(settings, connection)
    job = queue.enqueue(
        record_beacon,
        beacon.to_payload(),
        retry=Retry(max=len(RETRY_INTERVALS), interval=list(RETRY_INTERVALS)),
        job_timeout=JOB_TIMEOUT_S,
        result_ttl=RESULT_TTL_S,
        failure_ttl=FAILURE_TTL_S,
        description=f"qoe {beacon.title_id} {beacon.session_id}",
    )
    return str(job.id)


def record_beacon(payload: dict[str, Any]) -> int:
    """rq job: store one beacon row; returns its id.

    Builds settings and its catalog engine from ``get_settings()`` (REELFLOW_* env), as it
    runs in an rq work horse, not in the API process that enqueued it.
    """
    beacon = Beacon.from_payload(payload)
    with job_catalog(get_settings()) as engine:
        return write_beacon(engine, beacon)


def write_beacon(engine: Engine, beacon: Beacon) -> int:
    received = datetime.fromisoformat(beacon.received_at)
    if received.tzinfo is None:
        raise ValueError(f"received_at {beacon.received_at!r} has no UTC offset")
    # The row's columns are the beacon's fields. SQLite keeps the wall time without its
    # offset, so every stored time must be UTC for the window comparison in qoe_aggregates
    # to hold.
    row = QoEBeacon(**{**beacon.to_payload(), "received_at": received.astimezone(UTC)})
    return insert_beacon(engine, row)


# ---- aggregates ------------------------------------------------------------------------


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
    top_errors: list[ErrorCount]
    error_sample_rows: int  # beacons the top_errors tally read
    error_sample_truncated: bool  # more beacons had errors than were read


@dataclass(frozen=True)
class QoEReport:
    since: datetime
    titles: list[TitleQoE]
    truncated: bool  # more titles had beacons than max_titles


def nearest_rank(n: int, p: float) -> int:
    """1-based nearest rank of the p-th percentile among n sorted values: ceil(p * n).

    The percentile is then an observed value (never interpolated), e.g. for
    [100, 200, 300, 400, 1000]: p50 is rank 3 (300) and p95 is rank 5 (1000).
    """
    if n < 1:
        raise ValueError("no values")
    if not 0 < p <= 1:
        raise ValueError("p must be in (0, 1]")
    # round() first so float noise (0.95 * 20 = 19.000000000000004) does not add a rank.
    return max(1, min(n, math.ceil(round(p * n, 9))))


def qoe_aggregates(
    engine: Engine,
    *,
    since: datetime,
    title_id: str | None = None,
    max_titles: int = DEFAULT_MAX_TITLES,
    error_sample_rows: int = DEFAULT_ERROR_SAMPLE_ROWS,
) -> QoEReport:
    """Per-title QoE over beacons received at or after `since` (busiest titles first).

    rebuffer_ratio = sum(rebuffer_ms) / (sum(played_ms) + sum(rebuffer_ms)); startup
    percentiles use the nearest-rank method over beacons that reported startup_ms.
    """
    if since.tzinfo is None:
        raise ValueError("since needs a UTC offset")
    if not 1 <= max_titles <= MAX_TITLES:
        raise ValueError(f"max_titles must be 1..{MAX_TITLES}")
    since_utc = since.astimezone(UTC)
    with engine.connect() as conn:
        # One extra row tells whether the list was cut.
        rows = title_totals(conn, since=since_utc, title_id=title_id, limit=max_titles + 1)
        titles = [
            _title_qoe(conn, tuple(row), since_utc, error_sample_rows) for row in rows[:max_titles]
        ]
    return QoEReport(since=since_utc, titles=titles, truncated=len(rows) > max_titles)


def _title_qoe(
    conn: Connection, row: Sequence[Any], since: datetime, error_sample_rows: int
) -> TitleQoE:
    (title, n, sessions, n_startup, rb_count, rb_ms, played, switches, n_err, err_beacons) = row
    rb_ms, played = float(rb_ms), float(played)
    watched = played + rb_ms
    percentiles = _startup_percentiles(conn, title, since, int(n_startup))
    top, sampled = _top_errors(conn, title, since, error_sample_rows)
    return TitleQoE(
        title_id=title,
        beacons=int(n),
        sessions=int(sessions),
        startup_samples=int(n_startup),
        startup_p50_ms=percentiles.get(0.5),
        startup_p95_ms=percentiles.get(0.95),
        rebuffer_ratio=rb_ms / watched if watched > 0 else None,
        rebuffer_count=int(rb_count),
        rebuffer_ms=rb_ms,
        played_ms=played,
        bitrate_switches=int(switches),
        error_count=int(n_err),
        beacons_with_errors=int(err_beacons),
        top_errors=top,
        error_sample_rows=sampled,
        error_sample_truncated=sampled < int(err_beacons),
    )


def _startup_percentiles(
    conn: Connection, title: str, since: datetime, n: int
) -> dict[float, float]:
    if n == 0:
        return {}
    out: dict[float, float] = {}
    by_rank: dict[int, float] = {}
    for p in PERCENTILES:
        rank = nearest_rank(n, p)
        if rank not in by_rank:
            value = startup_at_rank(conn, title_id=title, since=since, rank=rank)
            if value is None:  # rows purged since the count: the rank is past the end
                continue
            by_rank[rank] = float(value)
        out[p] = by_rank[rank]
    return out


def _top_errors(
    conn: Connection, title: str, since: datetime, limit: int
) -> tuple[list[ErrorCount], int]:
    tally: Counter[str] = Counter()
    sampled = 0
    for errors in recent_error_lists(conn, title_id=title, since=since, limit=limit):
        sampled += 1
        tally.update(str(code) for code in errors)
    # Ties broken by code so the answer is stable between calls.
    ranked = sorted(tally.items(), key=lambda item: (-item[1], item[0]))[:TOP_ERROR_CODES]
    return [ErrorCount(code, count) for code, count in ranked], sampled
