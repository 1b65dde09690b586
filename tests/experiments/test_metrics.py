from __future__ import annotations

import pytest

from reelflow.experiments.metrics import METRICS, metric


def test_the_metrics_the_issue_names_and_their_good_direction() -> None:
    assert {m.name: (m.kind, m.higher_is_better) for m in METRICS.values()} == {
        "play_starts": ("mean", True),
        "minutes_watched": ("mean", True),
        "sessions": ("mean", True),
        "startup_p50": ("quantile", False),
        "startup_p90": ("quantile", False),
        "rebuffer_ratio": ("ratio", False),
        "playback_failures": ("ratio", False),
        "exits_before_start": ("ratio", False),
    }
    assert metric("startup_p90").quantile == 0.9 and metric("startup_p50").quantile == 0.5


def test_an_unknown_metric_is_named_with_the_known_ones() -> None:
    with pytest.raises(KeyError, match=r"unknown metric 'watch_time'.*minutes_watched"):
        metric("watch_time")
