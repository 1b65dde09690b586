"""What the analysis reads per variant and metric, and how it becomes a gbstats statistic.

Sufficient statistics, so a query can sum them where the events are (DuckDB over Parquet)
and ship a handful of numbers: n, the sum and the sum of squares of a per-viewer value; for
CUPED the same of the pre-experiment value and the sum of the products; for a ratio the
numerator's and denominator's moments and their products. A quantile needs the values
themselves (one per session) and, when a viewer has several sessions, whose each one is: the
sessions of one viewer are not independent, and gbstats' clustered quantile statistic widens
the interval for it (tests/experiments/test_quantiles.py shows the plain one undercovering).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from gbstats.models.statistics import (
    QuantileClusteredStatistic,
    QuantileStatistic,
    RatioStatistic,
    RegressionAdjustedStatistic,
    SampleMeanStatistic,
)
from scipy.stats import norm

Values = npt.ArrayLike


@dataclass(frozen=True)
class Moments:
    n: int
    sum: float
    sum_squares: float

    @classmethod
    def of(cls, values: Values) -> Moments:
        x = np.asarray(values, dtype=float)
        return cls(int(x.size), float(x.sum()), float(np.dot(x, x)))

    def statistic(self) -> SampleMeanStatistic:
        return SampleMeanStatistic(n=self.n, sum=self.sum, sum_squares=self.sum_squares)


@dataclass(frozen=True)
class MeanData:
    """A per-viewer value; with ``pre`` (the same value before the start) CUPED applies."""

    post: Moments
    pre: Moments | None = None
    post_pre_products: float = 0.0

    @classmethod
    def of(cls, post: Values, pre: Values | None = None) -> MeanData:
        if pre is None:
            return cls(Moments.of(post))
        y, x = np.asarray(post, dtype=float), np.asarray(pre, dtype=float)
        return cls(Moments.of(y), Moments.of(x), float(np.dot(x, y)))

    @property
    def units(self) -> int:
        return self.post.n


@dataclass(frozen=True)
class RatioData:
    """Per-viewer numerator and denominator sums (rebuffer seconds over watched seconds)."""

    numerator: Moments
    denominator: Moments
    products: float

    @classmethod
    def of(cls, numerator: Values, denominator: Values) -> RatioData:
        m, d = np.asarray(numerator, dtype=float), np.asarray(denominator, dtype=float)
        return cls(Moments.of(m), Moments.of(d), float(np.dot(m, d)))

    @property
    def units(self) -> int:
        return self.numerator.n


@dataclass(frozen=True, eq=False)
class QuantileData:
    """Per-session values; ``viewers`` (same length) says whose session each one is."""

    values: npt.NDArray[np.float64]
    viewers: npt.NDArray[np.int64] | None = None

    @property
    def units(self) -> int:
        return int(self.values.size)


MetricData = MeanData | RatioData | QuantileData


def statistic(data: MetricData, quantile: float | None, alpha: float) -> object:
    """The gbstats statistic for ``data`` (its tests take any of them)."""
    if isinstance(data, QuantileData):
        if quantile is None:
            raise ValueError("a quantile metric needs its level")
        return _quantile(data, quantile, alpha)
    if isinstance(data, RatioData):
        return RatioStatistic(
            n=data.numerator.n,
            m_statistic=data.numerator.statistic(),
            d_statistic=data.denominator.statistic(),
            m_d_sum_of_products=data.products,
        )
    if data.pre is None:
        return data.post.statistic()
    return RegressionAdjustedStatistic(
        n=data.post.n,
        post_statistic=data.post.statistic(),
        pre_statistic=data.pre.statistic(),
        post_pre_sum_of_products=data.post_pre_products,
        theta=0.0,  # gbstats fits theta on both arms together when it compares them
    )


def _quantile(data: QuantileData, nu: float, alpha: float) -> QuantileStatistic:
    # gbstats wants the quantile and the two order statistics that bound its interval, the
    # levels GrowthBook's SQL asks the warehouse for (nu -/+ z * sqrt(nu (1 - nu) / n)).
    values = np.asarray(data.values, dtype=float)
    n = int(values.size)
    if n < 2:
        return QuantileStatistic(
            n=n, n_star=n, nu=nu, quantile_hat=0.0, quantile_lower=0.0, quantile_upper=0.0
        )
    half = float(norm.ppf(1 - alpha / 2)) * np.sqrt(nu * (1 - nu) / n)
    levels = [nu, max(nu - half, 1e-8), min(nu + half, 1 - 1e-8)]
    q_hat, lower, upper = (float(q) for q in np.quantile(values, levels))
    common = dict(n=n, n_star=n, nu=nu, quantile_hat=q_hat, quantile_lower=lower)
    if data.viewers is None:
        return QuantileStatistic(**common, quantile_upper=upper)
    _, codes = np.unique(data.viewers, return_inverse=True)
    below = np.bincount(codes, weights=(values <= q_hat).astype(float))
    sessions = np.bincount(codes).astype(float)
    return QuantileClusteredStatistic(
        **common,
        quantile_upper=upper,
        main_sum=float(below.sum()),
        main_sum_squares=float(np.dot(below, below)),
        denominator_sum=float(sessions.sum()),
        denominator_sum_squares=float(np.dot(sessions, sessions)),
        main_denominator_sum_product=float(np.dot(below, sessions)),
        n_clusters=int(sessions.size),
    )
