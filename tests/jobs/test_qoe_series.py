"""QoE time series and session lists (the admin console's SQL) against hand-computed values."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine

from reelflow.jobs.qoe import Beacon, nearest_rank, write_beacon
from reelflow.jobs.qoe_series import qoe_sessions, qoe_timeseries

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _put(engine: Engine, at: datetime, session: str, plan: str | None, **kw: object) -> None:
    write_beacon(
        engine,
        Beacon(
            title_id=str(kw.pop("title_id", "t1")),
            session_id=session,
            account="acct",
            received_at=at.isoformat(),
            plan=plan,
            country="US" if plan else None,
            drm="clearkey" if plan else None,
            device_class="desktop" if plan else None,
            **kw,  # type: ignore[arg-type]
        ),
    )


def test_buckets_percentiles_and_ratios_match_hand_computed(catalog: Engine) -> None:
    rng = random.Random(7)
    hour0 = [rng.uniform(100, 3000) for _ in range(23)]  # odd n: p50 is the middle value
    hour1 = [rng.uniform(100, 3000) for _ in range(20)]  # 0.95*20 = 19: float noise case
    for i, v in enumerate(hour0):
        _put(catalog, T0 + timedelta(minutes=i), f"s0-{i}", "basic", startup_ms=v)
    for i, v in enumerate(hour1):
        _put(catalog, T0 + timedelta(hours=1, minutes=i), f"s1-{i}", "basic", startup_ms=v)
    # Rebuffering and errors in hour 1, for another plan; one old-style row without plan.
    _put(catalog, T0 + timedelta(hours=1, minutes=5), "p1", "premium", played_ms=9000.0,
         rebuffer_ms=1000.0, errors=("shaka:1001",))  # fmt: skip
    _put(catalog, T0 + timedelta(hours=1, minutes=6), "p1", "premium", played_ms=10000.0)
    _put(catalog, T0 + timedelta(minutes=2), "old", None, startup_ms=50.0)

    series = qoe_timeseries(
        catalog, since=T0, until=T0 + timedelta(hours=2), by="plan", bucket_s=3600
    )
    assert series.groups == ["basic", "premium", "unknown"]
    points = {(p.bucket_start, p.group): p for p in series.points}
    for start, values in ((T0, hour0), (T0 + timedelta(hours=1), hour1)):
        p = points[(start, "basic")]
        ordered = sorted(values)
        assert p.startup_samples == len(values)
        assert p.startup_p50_ms == pytest.approx(ordered[nearest_rank(len(values), 0.5) - 1])
        assert p.startup_p95_ms == pytest.approx(ordered[nearest_rank(len(values), 0.95) - 1])
    premium = points[(T0 + timedelta(hours=1), "premium")]
    assert premium.rebuffer_ratio == pytest.approx(1000 / 20000)
    assert premium.failed_sessions == 1 and premium.sessions == 1 and premium.beacons == 2
    assert premium.startup_p50_ms is None
    assert points[(T0, "unknown")].startup_p50_ms == 50.0
    assert (T0 + timedelta(hours=1), "unknown") not in points

    narrow = qoe_timeseries(
        catalog, since=T0, until=T0 + timedelta(hours=2), by="plan", bucket_s=3600, max_groups=1
    )
    assert narrow.groups == ["basic"] and narrow.truncated
    assert {p.group for p in narrow.points} == {"basic"}


def test_sessions_slowest_and_failing(catalog: Engine) -> None:
    _put(catalog, T0, "slow", "basic", startup_ms=4000.0)
    _put(catalog, T0, "quick", "premium", startup_ms=200.0)
    _put(catalog, T0, "broken", "standard", errors=("a", "b"))
    _put(catalog, T0 + timedelta(seconds=5), "broken", "standard", errors=("c",))
    slowest = qoe_sessions(catalog, since=T0, order="slowest")
    assert [s.session_id for s in slowest] == ["slow", "quick"]
    failing = qoe_sessions(catalog, since=T0, order="failing")
    assert [(s.session_id, s.error_count, s.plan) for s in failing] == [("broken", 3, "standard")]
    assert qoe_sessions(catalog, since=T0 + timedelta(seconds=1), order="slowest") == []


def test_timeseries_refuses_bad_windows(catalog: Engine) -> None:
    with pytest.raises(ValueError, match="UTC offset"):
        qoe_timeseries(catalog, since=T0.replace(tzinfo=None), until=T0, by="title", bucket_s=60)
    with pytest.raises(ValueError, match="after since"):
        qoe_timeseries(catalog, since=T0, until=T0, by="title", bucket_s=60)
    with pytest.raises(ValueError, match="buckets"):
        qoe_timeseries(catalog, since=T0, until=T0 + timedelta(days=30), by="title", bucket_s=60)
