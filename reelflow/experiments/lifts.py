"""One variant against control on one metric: the lift, its intervals and p-values.

gbstats (GrowthBook's engine, PyPI 0.8.0) does the statistics: Welch's t-test with the
delta method for ratios and relative lifts, CUPED as regression adjustment with theta fitted
on both arms, quantiles through their order-statistic intervals, and the sequential test,
an asymptotic confidence sequence (Waudby-Smith et al. 2023, eq. 9) whose intervals stay
valid however often the results are read; its p-value is 1 / e-value. One correction: the
released 0.8.0 under-covers relative CUPED lifts (growthbook#3610, fixed after it); the
variance from that fix replaces its own (tests/experiments/test_coverage.py measures both).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from gbstats.frequentist.tests import (
    FrequentistConfig,
    SequentialConfig,
    SequentialTwoSidedTTest,
    TTest,
    TwoSidedTTest,
)
from gbstats.models.statistics import RegressionAdjustedStatistic


@dataclass(frozen=True)
class Settings:
    alpha: float = 0.05
    # The total sample size (both arms) where the sequential interval is tightest;
    # GrowthBook's default. Any value keeps the guarantee; near the planned size is best.
    sequential_tuning: float = 5000.0


@dataclass(frozen=True)
class Inference:
    low: float
    high: float
    p_value: float

    def sign(self) -> int:
        """+1 when the interval lies above zero, -1 below, 0 when it holds zero."""
        return 1 if self.low > 0 else -1 if self.high < 0 else 0


@dataclass(frozen=True)
class Lift:
    estimate: float
    fixed: Inference  # fixed horizon: valid when read once, at the planned end
    sequential: Inference  # always valid: may be read every day
    variance: float  # of the estimate, for power.py


class NotEnoughData(Exception):
    """gbstats could not compare (too few units, no variance, a zero baseline)."""


def _relative_cuped_variance(
    a: RegressionAdjustedStatistic, b: RegressionAdjustedStatistic
) -> float:
    # Delta method on (Yb - t Xb - Ya + t Xa) / Ya: the control's post mean is also the
    # denominator, so its gradient is -Yb / Ya^2 for Ya and t / Ya for Xa (growthbook#3610).
    mu_a, mu_b, theta = a.post_statistic.mean, b.post_statistic.mean, a.theta
    if mu_a == 0 or a.n == 0 or b.n == 0:
        return 0.0
    v_b = b.post_statistic.variance + theta**2 * b.pre_statistic.variance - 2 * theta * b.covariance
    v_a = (
        a.post_statistic.variance * mu_b**2 / mu_a**2
        - 2 * theta * a.covariance * mu_b / mu_a
        + theta**2 * a.pre_statistic.variance
    )
    return float((v_b / b.n + v_a / a.n) / mu_a**2)


class _CorrectedVariance(TTest):
    @property
    def variance(self) -> float:
        a, b = self.stat_a, self.stat_b
        if (
            self.relative
            and isinstance(a, RegressionAdjustedStatistic)
            and isinstance(b, RegressionAdjustedStatistic)
        ):
            return _relative_cuped_variance(a, b)
        return float(super().variance)


class _FixedHorizon(_CorrectedVariance, TwoSidedTTest):
    pass


class _Sequential(_CorrectedVariance, SequentialTwoSidedTTest):
    pass


def _inference(result: object) -> Inference:
    low, high = result.ci  # type: ignore[attr-defined]
    return Inference(float(low), float(high), float(result.p_value))  # type: ignore[attr-defined]


def compare(control: object, treatment: object, relative: bool, settings: Settings) -> Lift:
    """The lift of ``treatment`` over ``control`` (gbstats statistics, measures.py):
    treatment minus control, divided by control's mean when ``relative``."""
    kind = "relative" if relative else "absolute"
    fixed = _FixedHorizon(
        control, treatment, FrequentistConfig(alpha=settings.alpha, difference_type=kind)
    )
    fixed_result = fixed.compute_result()
    if fixed_result.error_message:
        raise NotEnoughData(fixed_result.error_message)
    sequential = _Sequential(
        control,
        treatment,
        SequentialConfig(
            alpha=settings.alpha,
            difference_type=kind,
            sequential_tuning_parameter=settings.sequential_tuning,
        ),
    )
    # A lift far beyond its interval overflows gbstats' e-value to infinity: p = 0, as meant.
    with np.errstate(over="ignore"):
        sequential_result = sequential.compute_result()
    return Lift(
        estimate=float(fixed_result.expected),
        fixed=_inference(fixed_result),
        sequential=_inference(sequential_result),
        variance=float(fixed.variance),
    )
