"""An experiment's events (events.experiment_queries) on real Parquet files and DuckDB: who is
a unit and in which variant, which sessions count, the buckets of their first frame, failure
and start-up time, per-viewer activity by bucket, and the pre-period covariates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from reelflow.events.experiment_queries import NEVER, experiment_events
from reelflow.events.privacy import ANONYMOUS
from tests.experiments.event_files import event, exposure, files_at, qoe, write

START = datetime(2026, 12, 1, tzinfo=UTC)
KEY = "abr-ladder"


def at(minutes: float) -> datetime:
    return START + timedelta(minutes=minutes)


def _events() -> tuple[list[dict[str, Any]], dict[str, Any]]:
    dup = exposure("v_b", "b1", at(30), KEY, "fast")
    return [
        # v_a: a session before the experiment (the pre-period) ...
        event("session_start", "v_a", "pa1", at(-2 * 24 * 60), title="t1"),
        event("play_start", "v_a", "pa1", at(-2 * 24 * 60 + 1), title="t1", position_s=0.0),
        qoe("v_a", "pa1", at(-2 * 24 * 60 + 3), played_ms=120_000.0, startup_ms=700.0),
        # ... one before its first exposure (not counted) ...
        qoe("v_a", "a0", at(5), played_ms=999_999.0),
        # ... its exposed session: started, then exposed, first frame, later a stall ...
        event("session_start", "v_a", "a1", at(9), title="t1"),
        exposure("v_a", "a1", at(10), KEY, "control"),
        event("play_start", "v_a", "a1", at(10), title="t1", position_s=0.0),
        qoe("v_a", "a1", at(10.5), startup_ms=800.0),
        qoe("v_a", "a1", at(70), played_ms=60_000.0, rebuffer_ms=3_000.0),
        # ... and a later session nobody exposed (a stale assigner): it failed, no frame.
        event("session_start", "v_a", "a2", at(130), title="t1"),
        qoe("v_a", "a2", at(131), errors=["e:1"]),
        # v_b: exposed, left before the first frame; the exposure delivered twice ...
        dup,
        # ... then a second exposed session that played.
        exposure("v_b", "b2", at(90), KEY, "fast"),
        event("play_start", "v_b", "b2", at(91), title="t1", position_s=0.0),
        qoe("v_b", "b2", at(91.5), startup_ms=1500.0),
        # Left out: two variants, an unknown variant, anonymous, another experiment, too late.
        exposure("v_c", "c1", at(10), KEY, "control"),
        exposure("v_c", "c2", at(20), KEY, "fast"),
        exposure("v_d", "d1", at(10), KEY, "ghost"),
        exposure(ANONYMOUS, "n1", at(10), KEY, "control"),
        exposure("v_e", "e1", at(10), "artwork", "a"),
        exposure("v_f", "f1", at(185), KEY, "control"),
    ], dup


def test_units_sessions_and_activity_by_bucket(tmp_path: Path) -> None:
    records, dup = _events()
    write(tmp_path / "objects", records)
    write(tmp_path / "objects", [dup])  # a redelivery: another file, the same id
    ev = experiment_events(
        files_at(tmp_path / "objects"),
        key=KEY,
        variants=("control", "fast"),
        start=START,
        until=START + timedelta(hours=3),
        bucket=timedelta(hours=1),
        pre_period=timedelta(days=14),
    )
    assert (ev.units, ev.buckets) == (2, 3)
    assert ev.unit_variant.tolist() == [0, 1]  # v_a control, v_b fast
    assert ev.unit_first.tolist() == [0, 0]
    assert (ev.multiple_variants, ev.unknown_variant) == (1, 1)
    assert ev.pre_plays.tolist() == [1.0, 0.0]
    assert ev.pre_minutes.tolist() == [2.0, 0.0]
    assert ev.pre_sessions.tolist() == [1.0, 0.0]

    # Sessions a1, a2, b1, b2 (a0 began before v_a's first exposure and carries none).
    assert ev.session_unit.tolist() == [0, 0, 1, 1]
    assert ev.session_first.tolist() == [0, 2, 0, 1]
    assert ev.session_reach.tolist() == [0, NEVER, NEVER, 1]
    assert ev.session_fail.tolist() == [NEVER, 2, NEVER, NEVER]
    assert ev.session_startup_b.tolist() == [0, NEVER, NEVER, 1]
    np.testing.assert_array_equal(ev.session_startup_s, [0.8, np.nan, np.nan, 1.5])

    rows = list(zip(ev.activity_unit.tolist(), ev.activity_b.tolist(), ev.activity_plays.tolist(),
                    ev.activity_played_ms.tolist(), ev.activity_rebuffer_ms.tolist(),
                    strict=True))  # fmt: skip
    assert rows == [
        (0, 0, 1.0, 0.0, 0.0),
        (0, 1, 0.0, 60_000.0, 3_000.0),
        (0, 2, 0.0, 0.0, 0.0),
        (1, 0, 0.0, 0.0, 0.0),
        (1, 1, 1.0, 0.0, 0.0),
    ]


def test_nothing_yet_is_no_unit_and_one_bucket(tmp_path: Path) -> None:
    ev = experiment_events(
        files_at(tmp_path / "empty"),
        key=KEY,
        variants=("control", "fast"),
        start=START,
        until=START,
        bucket=timedelta(hours=1),
        pre_period=timedelta(days=14),
    )
    assert (ev.units, ev.buckets, ev.session_unit.size, ev.activity_unit.size) == (0, 1, 0, 0)
    with pytest.raises(ValueError, match="UTC offset"):
        experiment_events(files_at(tmp_path / "empty"), key=KEY, variants=("a", "b"),
                          start=START.replace(tzinfo=None), until=START, bucket=timedelta(hours=1),
                          pre_period=timedelta(days=1))  # fmt: skip
