"""QoE beacons: a real rq worker over real Redis writes rows; aggregates on SQLite and PostgreSQL.

Every expected aggregate below is worked out by hand from the beacons the test writes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from rq import Worker
from rq.job import Job, JobStatus
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from reelflow.catalog.models import QoEBeacon, as_utc
from reelflow.config import Settings
from reelflow.jobs.qoe import (
    Beacon,
    ErrorCount,
    TitleQoE,
    enqueue_beacon,
    nearest_rank,
    qoe_aggregates,
    write_beacon,
)
from reelflow.jobs.queue import get_queue, redis_connection


@pytest.fixture
def qoe_settings(job_settings: Settings) -> Settings:
    return job_settings


NOW = datetime.now(UTC)


def _beacon(
    title_id: str,
    session: str,
    *,
    startup: float | None = None,
    rebuffers: int = 0,
    rebuffer_ms: float = 0.0,
    played_ms: float = 0.0,
    switches: int = 0,
    errors: tuple[str, ...] = (),
    received_at: datetime | None = None,
) -> Beacon:
    return Beacon(
        title_id=title_id,
        session_id="s" + session.ljust(32, "0"),
        account=f"acct-{session}",
        received_at=(received_at or NOW - timedelta(minutes=1)).isoformat(),
        startup_ms=startup,
        rebuffer_count=rebuffers,
        rebuffer_ms=rebuffer_ms,
        played_ms=played_ms,
        bitrate_switches=switches,
        errors=errors,
    )


def _run_worker(settings: Settings) -> None:
    conn = redis_connection(settings)
    # Burst: process everything queued, then return (each job in a forked work horse).
    Worker([get_queue(settings, conn)], connection=conn).work(burst=True)


def _rows(engine: Engine) -> list[QoEBeacon]:
    with Session(engine) as s:
        return list(s.exec(select(QoEBeacon).order_by(col(QoEBeacon.id))))


# ---- percentile rank ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "p", "rank"),
    [(5, 0.5, 3), (5, 0.95, 5), (1, 0.5, 1), (1, 0.95, 1), (4, 0.5, 2), (20, 0.95, 19),
     (100, 0.95, 95), (100, 0.5, 50), (101, 0.5, 51)],
)  # fmt: skip
def test_nearest_rank(n: int, p: float, rank: int) -> None:
    assert nearest_rank(n, p) == rank


def test_nearest_rank_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        nearest_rank(0, 0.5)
    with pytest.raises(ValueError):
        nearest_rank(5, 0.0)


# ---- the rq job ----------------------------------------------------------------------------


def test_worker_writes_beacon_row(qoe_settings: Settings, catalog: Engine) -> None:
    received = datetime(2025, 3, 4, 5, 6, 7, 123000, tzinfo=UTC)
    beacon = _beacon(
        "movie-1",
        "abc",
        startup=812.5,
        rebuffers=2,
        rebuffer_ms=1500,
        played_ms=60_000,
        switches=3,
        errors=("net:timeout", "drm.license-denied"),
        received_at=received,
    )
    job_id = enqueue_beacon(qoe_settings, beacon)
    assert _rows(catalog) == []  # nothing is written until a worker runs the job

    _run_worker(qoe_settings)

    job = Job.fetch(job_id, connection=redis_connection(qoe_settings))
    assert job.get_status() == JobStatus.FINISHED
    [row] = _rows(catalog)
    assert job.return_value() == row.id
    assert (row.title_id, row.session_id, row.account) == ("movie-1", beacon.session_id, "acct-abc")
    assert (row.startup_ms, row.rebuffer_count, row.rebuffer_ms) == (812.5, 2, 1500.0)
    assert (row.played_ms, row.bitrate_switches) == (60_000.0, 3)
    assert row.errors == ["net:timeout", "drm.license-denied"]
    # The API's acceptance time is kept (not the time the worker ran).
    assert as_utc(row.received_at) == received


def test_worker_keeps_missing_startup_as_null(qoe_settings: Settings, catalog: Engine) -> None:
    enqueue_beacon(qoe_settings, _beacon("movie-1", "abc", played_ms=10))
    _run_worker(qoe_settings)
    [row] = _rows(catalog)
    assert row.startup_ms is None and row.errors == []


# ---- aggregates -----------------------------------------------------------------------------


def test_aggregates_match_hand_computed_values(qoe_settings: Settings, catalog: Engine) -> None:
    beacons = [
        _beacon("a", "s1", startup=100, rebuffers=1, rebuffer_ms=500, played_ms=10_000,
                switches=2, errors=("net:timeout",)),
        _beacon("a", "s1", startup=200, played_ms=20_000, switches=1),
        _beacon("a", "s2", startup=300, rebuffers=2, rebuffer_ms=1500, played_ms=30_000,
                errors=("net:timeout", "drm:license")),
        _beacon("a", "s2", startup=400, played_ms=15_000, switches=3),
        _beacon("a", "s3", startup=1000, rebuffers=1, rebuffer_ms=1000, played_ms=5_000,
                errors=("net:timeout", "media:decode")),
        _beacon("a", "s3", played_ms=20_000, switches=1),  # no startup: not a percentile sample
        # Outside the default 24 h window: would pull p50 down to 200 if it were counted.
        _beacon("a", "s4", startup=5, rebuffer_ms=99_999, errors=("old",),
                received_at=NOW - timedelta(days=2)),
        _beacon("b", "s5"),
    ]  # fmt: skip
    for beacon in beacons:
        enqueue_beacon(qoe_settings, beacon)
    _run_worker(qoe_settings)
    assert len(_rows(catalog)) == len(beacons)

    report = qoe_aggregates(catalog, since=NOW - timedelta(hours=24))

    assert not report.truncated
    a, b = report.titles  # busiest title first
    assert a == TitleQoE(
        title_id="a",
        beacons=6,
        sessions=3,
        startup_samples=5,
        # Nearest rank over [100, 200, 300, 400, 1000]: p50 = 3rd (300), p95 = 5th (1000);
        # linear interpolation would have given p95 = 880.
        startup_p50_ms=300.0,
        startup_p95_ms=1000.0,
        # 3000 ms stalled / (100 000 ms played + 3000 ms stalled)
        rebuffer_ratio=pytest.approx(3000 / 103_000),  # type: ignore[arg-type]
        rebuffer_count=4,
        rebuffer_ms=3000.0,
        played_ms=100_000.0,
        bitrate_switches=7,
        error_count=5,
        beacons_with_errors=3,
        # Ties broken by code: drm:license before media:decode.
        top_errors=[
            ErrorCount("net:timeout", 3),
            ErrorCount("drm:license", 1),
            ErrorCount("media:decode", 1),
        ],
        error_sample_rows=3,
        error_sample_truncated=False,
    )
    assert (b.title_id, b.beacons, b.sessions, b.startup_samples) == ("b", 1, 1, 0)
    assert b.startup_p50_ms is None and b.startup_p95_ms is None
    assert b.rebuffer_ratio is None  # nothing played nor stalled: no ratio to speak of
    assert (b.error_count, b.top_errors) == (0, [])

    # A wider window takes the old beacon in.
    wide = qoe_aggregates(catalog, since=NOW - timedelta(days=3), title_id="a")
    [a_wide] = wide.titles
    assert (a_wide.beacons, a_wide.sessions, a_wide.startup_samples) == (7, 4, 6)
    assert a_wide.startup_p50_ms == 200.0  # [5, 100, 200, 300, 400, 1000]: 3rd
    assert a_wide.error_count == 6


def test_title_filter_limit_and_error_sample_bound(catalog: Engine) -> None:
    for i in range(3):
        write_beacon(catalog, _beacon("busy", f"b{i}", errors=(f"e{i}", "common")))
    write_beacon(catalog, _beacon("quiet", "q0", played_ms=1000))
    since = NOW - timedelta(hours=1)

    only_quiet = qoe_aggregates(catalog, since=since, title_id="quiet")
    assert [t.title_id for t in only_quiet.titles] == ["quiet"]
    assert qoe_aggregates(catalog, since=since, title_id="nothing-here").titles == []

    top_one = qoe_aggregates(catalog, since=since, max_titles=1)
    assert top_one.truncated and [t.title_id for t in top_one.titles] == ["busy"]
    assert not qoe_aggregates(catalog, since=since, max_titles=2).truncated

    sampled = qoe_aggregates(catalog, since=since, title_id="busy", error_sample_rows=2)
    [busy] = sampled.titles
    # Totals stay exact; only the top-codes tally is cut to the newest 2 beacons.
    assert (busy.error_count, busy.beacons_with_errors) == (6, 3)
    assert busy.error_sample_rows == 2 and busy.error_sample_truncated
    assert busy.top_errors[0] == ErrorCount("common", 2)

    assert qoe_aggregates(catalog, since=NOW + timedelta(minutes=1)).titles == []


def test_aggregates_refuse_naive_since_and_bad_limits(catalog: Engine) -> None:
    with pytest.raises(ValueError, match="UTC offset"):
        qoe_aggregates(catalog, since=datetime(2025, 1, 1))
    with pytest.raises(ValueError, match="max_titles"):
        qoe_aggregates(catalog, since=NOW, max_titles=0)


def test_write_beacon_refuses_naive_received_at(catalog: Engine) -> None:
    beacon = _beacon("a", "x", received_at=datetime(2025, 1, 1))
    with pytest.raises(ValueError, match="UTC offset"):
        write_beacon(catalog, beacon)
    assert _rows(catalog) == []
