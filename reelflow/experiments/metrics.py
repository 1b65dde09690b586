"""The experiment metrics reelflow knows, what kind of statistic each is and which way is good.

Per viewer (the unit of assignment): play starts, minutes watched and sessions, means with
CUPED on the pre-experiment period. Per session: start-up time at p50 and p90 (quantiles,
sessions clustered by viewer), and rebuffer ratio, playback failures and exits before start
as ratios of per-viewer sums (delta method). measures.py holds what each kind is fed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["mean", "ratio", "quantile"]


@dataclass(frozen=True)
class Metric:
    name: str
    kind: Kind
    higher_is_better: bool
    unit: str
    quantile: float | None = None  # the level of a quantile metric


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("play_starts", "mean", True, "starts per viewer"),
        Metric("minutes_watched", "mean", True, "minutes per viewer"),
        Metric("sessions", "mean", True, "sessions per viewer"),
        Metric("startup_p50", "quantile", False, "seconds", quantile=0.5),
        Metric("startup_p90", "quantile", False, "seconds", quantile=0.9),
        # rebuffering seconds over watched seconds
        Metric("rebuffer_ratio", "ratio", False, "stalled share of watch time"),
        # failed sessions over sessions; sessions left before the first frame over sessions
        Metric("playback_failures", "ratio", False, "failures per session"),
        Metric("exits_before_start", "ratio", False, "exits per session"),
    )
}


def metric(name: str) -> Metric:
    """The metric called ``name``; KeyError naming the known ones otherwise."""
    try:
        return METRICS[name]
    except KeyError:
        raise KeyError(f"unknown metric {name!r}; known: {', '.join(sorted(METRICS))}")
