"""An experiment's results read from the event log: now, and as they stood over time.

``events.experiment_queries`` reads the exposures and what the exposed viewers did (one pass
over the files); this module turns that into the statistics' inputs (``measures``) as of the
end of any time bucket, and runs ``analysis`` on them:

- per viewer (CUPED on the same metric over ``PRE_PERIOD`` before the start): play starts,
  minutes watched, sessions;
- per viewer as ratios of sums (delta method): rebuffer ratio (stalled over stalled + played
  seconds, as the QoE console computes it), playback failures and exits before the first
  frame (each over sessions);
- per session, clustered by viewer: start-up time p50 and p90, in seconds.

A result is readable from the moment the experiment starts: with no exposure yet every
metric says "not enough data". The series gives, per bucket end, the relative lift with its
fixed-horizon and sequential intervals of every metric, for the console to draw.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import numpy as np

from reelflow.catalog.experiments import ExperimentRow
from reelflow.events.experiment_queries import ExperimentEvents, experiment_events
from reelflow.events.queries import EventFiles
from reelflow.experiments.analysis import Plan, Results, VariantData, analyse
from reelflow.experiments.measures import MeanData, MetricData, QuantileData, RatioData
from reelflow.experiments.metrics import METRICS

PRE_PERIOD = timedelta(days=14)
Bucket = Literal["hour", "day"]
BUCKETS: dict[str, timedelta] = {"hour": timedelta(hours=1), "day": timedelta(days=1)}
# Hourly points while an experiment is young, daily after; at most this many (the latest).
HOURLY_UNTIL = timedelta(hours=72)
MAX_POINTS = 200


class NotStarted(ValueError):
    """A draft has no results yet."""


@dataclass(frozen=True)
class VariantCount:
    key: str
    weight: float
    viewers: int
    sessions: int


@dataclass(frozen=True)
class Report:
    key: str
    status: str
    started_at: datetime
    stopped_at: datetime | None
    as_of: datetime
    variants: tuple[VariantCount, ...]
    results: Results
    left_out: dict[str, int]  # viewers exposed to two variants, or to an unknown one


def _window(row: ExperimentRow, now: datetime) -> tuple[datetime, datetime]:
    if row.started_at is None:
        raise NotStarted(f"{row.key} has not started: results come once it runs")
    until = row.stopped_at or now
    return row.started_at, max(until, row.started_at)


def _read(row: ExperimentRow, files: EventFiles, until: datetime, bucket: timedelta
          ) -> ExperimentEvents:  # fmt: skip
    assert row.started_at is not None
    return experiment_events(
        files,
        key=row.key,
        variants=tuple(v.key for v in row.definition.variants),
        start=row.started_at,
        until=until,
        bucket=bucket,
        pre_period=PRE_PERIOD,
    )


def _sums(unit: np.ndarray, mask: np.ndarray, n: int, weights: np.ndarray | None = None
          ) -> np.ndarray:  # fmt: skip
    return np.bincount(unit[mask], None if weights is None else weights[mask], minlength=n)


def variants_at(ev: ExperimentEvents, k: int, weights: tuple[float, ...]) -> list[VariantData]:
    """Each variant's data as it stood at the end of bucket ``k``."""
    n = ev.units
    active = ev.activity_b <= k
    plays = _sums(ev.activity_unit, active, n, ev.activity_plays)
    played_s = _sums(ev.activity_unit, active, n, ev.activity_played_ms) / 1000
    stalled_s = _sums(ev.activity_unit, active, n, ev.activity_rebuffer_ms) / 1000
    begun = ev.session_first <= k
    failed = begun & (ev.session_fail <= k)
    sessions = _sums(ev.session_unit, begun, n).astype(float)
    failures = _sums(ev.session_unit, failed, n).astype(float)
    exits = _sums(ev.session_unit, begun & (ev.session_reach > k) & ~failed, n).astype(float)
    timed = begun & (ev.session_startup_b <= k)
    live = ev.unit_first <= k
    # CUPED only where the pre-period says something (no variance: nothing to adjust by).
    pre = {
        name: values if live.any() and np.var(values[live]) > 0 else None
        for name, values in (("plays", ev.pre_plays), ("minutes", ev.pre_minutes),
                             ("sessions", ev.pre_sessions))
    }  # fmt: skip
    out = []
    for index, (key, weight) in enumerate(zip(ev.variants, weights, strict=True)):
        mine = live & (ev.unit_variant == index)
        units = np.flatnonzero(mine)
        metrics: dict[str, MetricData] = {}
        if units.size:
            metrics |= _per_viewer(units, plays, played_s / 60, sessions, pre)
            metrics["rebuffer_ratio"] = RatioData.of(
                stalled_s[units], (stalled_s + played_s)[units]
            )
            metrics["playback_failures"] = RatioData.of(failures[units], sessions[units])
            metrics["exits_before_start"] = RatioData.of(exits[units], sessions[units])
            startup = timed & mine[ev.session_unit]
            if startup.any():
                times = QuantileData(ev.session_startup_s[startup], ev.session_unit[startup])
                metrics["startup_p50"] = metrics["startup_p90"] = times
        out.append(VariantData(key, weight, int(units.size), metrics))
    return out


def _per_viewer(
    units: np.ndarray,
    plays: np.ndarray,
    minutes: np.ndarray,
    sessions: np.ndarray,
    pre: dict[str, np.ndarray | None],
) -> dict[str, MetricData]:
    def mean(post: np.ndarray, before: np.ndarray | None) -> MeanData:
        return MeanData.of(post[units], None if before is None else before[units])

    return {
        "play_starts": mean(plays, pre["plays"]),
        "minutes_watched": mean(minutes, pre["minutes"]),
        "sessions": mean(sessions, pre["sessions"]),
    }


def _plan(row: ExperimentRow) -> Plan:
    d = row.definition
    return Plan(primary=d.primary_metric, guardrails=d.guardrails, mde=d.mde)


def _sessions(v: VariantData) -> int:
    data = v.metrics.get("sessions")
    return int(data.post.sum) if isinstance(data, MeanData) else 0


def experiment_results(row: ExperimentRow, files: EventFiles, now: datetime) -> Report:
    """The results as of ``now`` (or as of the stop)."""
    start, until = _window(row, now)
    ev = _read(row, files, until, BUCKETS["hour"])
    weights = tuple(v.weight for v in row.definition.variants)
    variants = variants_at(ev, ev.buckets - 1, weights)
    return Report(
        key=row.key,
        status=row.status,
        started_at=start,
        stopped_at=row.stopped_at,
        as_of=until,
        variants=tuple(VariantCount(v.key, v.weight, v.viewers, _sessions(v)) for v in variants),
        results=analyse(variants, _plan(row)),
        left_out={"multiple_variants": ev.multiple_variants, "unknown_variant": ev.unknown_variant},
    )


@dataclass(frozen=True)
class Point:
    t: datetime  # the end of the bucket: the results as they stood then
    viewers: tuple[int, ...]  # per variant
    srm_p_value: float
    metrics: tuple[dict[str, Any], ...]  # per variant (not control) and metric


@dataclass(frozen=True)
class Series:
    key: str
    bucket: Bucket
    variants: tuple[str, ...]
    points: tuple[Point, ...]


def default_bucket(row: ExperimentRow, now: datetime) -> Bucket:
    start, until = _window(row, now)
    return "hour" if until - start <= HOURLY_UNTIL else "day"


def _point_metrics(results: Results) -> Iterator[dict[str, Any]]:
    for m in results.metrics:
        rel = m.relative
        yield {
            "metric": m.metric, "variant": m.variant, "role": m.role, "units": m.units,
            "verdict": m.verdict,
            "relative": None if rel is None else rel.estimate,
            "fixed": None if rel is None else [rel.fixed.low, rel.fixed.high],
            "sequential": None if rel is None else [rel.sequential.low, rel.sequential.high],
        }  # fmt: skip


def results_series(
    row: ExperimentRow, files: EventFiles, now: datetime, bucket: Bucket | None = None
) -> Series:
    """The results at the end of every bucket since the start (the latest MAX_POINTS)."""
    bucket = bucket or default_bucket(row, now)
    start, until = _window(row, now)
    ev = _read(row, files, until, BUCKETS[bucket])
    weights = tuple(v.weight for v in row.definition.variants)
    plan = _plan(row)
    points = []
    for k in range(max(0, ev.buckets - MAX_POINTS), ev.buckets):
        variants = variants_at(ev, k, weights)
        results = analyse(variants, plan)
        t = min(start + (k + 1) * BUCKETS[bucket], until)
        viewers = tuple(v.viewers for v in variants)
        points.append(Point(t, viewers, results.srm.p_value, tuple(_point_metrics(results))))
    return Series(row.key, bucket, ev.variants, tuple(points))


def _finite(value: Any) -> Any:
    # JSON has no NaN or infinity: an undefined figure is null.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def as_json(report: Report | Series) -> dict[str, Any]:
    """A report or a series as JSON-ready data (times ISO 8601, undefined figures null),
    with each metric's definition, so a reader (the admin console) never keeps its own copy
    of which way is better or what unit a metric has."""
    data: dict[str, Any] = _finite(asdict(report))
    data["metric_definitions"] = {
        m.name: {"kind": m.kind, "higher_is_better": m.higher_is_better, "unit": m.unit}
        for m in METRICS.values()
    }
    return data
