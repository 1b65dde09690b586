"""What the analysis is fed: sufficient statistics from values, and quantiles of sessions
that belong to viewers (clustered: a viewer's sessions are alike, so they count less)."""

from __future__ import annotations

import numpy as np
import pytest

from reelflow.experiments.lifts import Settings, compare
from reelflow.experiments.measures import MeanData, Moments, QuantileData, RatioData, statistic


def test_moments_and_products_are_the_sums() -> None:
    post, pre = np.array([1.0, 2.0, 4.0]), np.array([2.0, 2.0, 3.0])
    data = MeanData.of(post, pre)
    assert data.post == Moments(3, 7.0, 21.0) and data.pre == Moments(3, 7.0, 17.0)
    assert data.post_pre_products == 2 + 4 + 12 and data.units == 3
    ratio = RatioData.of([1.0, 3.0], [10.0, 30.0])
    assert ratio.products == 100.0 and ratio.units == 2
    stat = statistic(ratio, None, 0.05)
    assert stat.mean == pytest.approx(0.1)  # type: ignore[attr-defined]
    assert statistic(MeanData.of(post), None, 0.05).mean == pytest.approx(7 / 3)  # type: ignore[attr-defined]


def test_a_quantile_statistic_is_the_sample_quantile_with_its_bounds() -> None:
    values = np.random.default_rng(1).lognormal(0, 0.6, 10_001)
    stat = statistic(QuantileData(values), 0.9, 0.05)
    assert stat.quantile_hat == pytest.approx(np.quantile(values, 0.9))  # type: ignore[attr-defined]
    assert stat.quantile_lower < stat.quantile_hat < stat.quantile_upper  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="level"):
        statistic(QuantileData(values), None, 0.05)


def _sessions(rng: np.random.Generator, viewers: int) -> QuantileData:
    per_viewer = 1 + rng.poisson(4, viewers)
    owner = np.repeat(np.arange(viewers), per_viewer)
    # A viewer's network and device make all their start-ups alike.
    log_startup = rng.normal(0, 0.5, viewers)[owner] + rng.normal(0, 0.3, owner.size)
    return QuantileData(np.exp(log_startup), owner)


def test_clustered_sessions_keep_coverage_where_treating_them_as_independent_does_not() -> None:
    rng = np.random.default_rng(50)
    runs, covered_clustered, covered_iid = 1_000, 0, 0
    for _ in range(runs):
        a, b = _sessions(rng, 400), _sessions(rng, 400)
        lift = compare(statistic(a, 0.9, 0.05), statistic(b, 0.9, 0.05), True, Settings())
        covered_clustered += lift.fixed.low <= 0 <= lift.fixed.high
        plain = [QuantileData(x.values) for x in (a, b)]
        naive = compare(
            statistic(plain[0], 0.9, 0.05), statistic(plain[1], 0.9, 0.05), True, Settings()
        )
        covered_iid += naive.fixed.low <= 0 <= naive.fixed.high
    print(
        f"\np90 coverage, 5 sessions per viewer: clustered {covered_clustered / runs:.1%}, "
        f"sessions as independent {covered_iid / runs:.1%}"
    )
    assert covered_clustered / runs == pytest.approx(0.95, abs=0.025)
    assert covered_iid / runs < 0.85
