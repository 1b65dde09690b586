"""Power: the sessions a 10% start-up p90 regression needs, by the calculation of power.py,
and by simulation of experiments read as they grow; they agree. The half-width power.py
uses is gbstats' own interval."""

from __future__ import annotations

import time

import numpy as np
import pytest
from scipy.stats import norm

from reelflow.experiments.analysis import Plan, VariantData, analyse
from reelflow.experiments.lifts import Settings, compare
from reelflow.experiments.measures import MeanData, QuantileData, statistic
from reelflow.experiments.power import (
    fixed_horizon_units,
    quantile_unit_variance,
    relative_unit_variance,
    sequential_half_width,
    sequential_units,
)

SIGMA = 0.6  # start-up seconds: log-normal, median 1 s, p90 about 2.2 s
NU = 0.9
REGRESSION = 0.10  # the treatment is 10% slower at every quantile
TUNING = 10_000
RUNS = 400


def _p90_unit_variance() -> float:
    z = norm.ppf(NU)
    q90 = float(np.exp(z * SIGMA))
    density = float(norm.pdf(z)) / (q90 * SIGMA)  # of the log-normal at its p90
    control = quantile_unit_variance(NU, density)
    slower = (1 + REGRESSION) ** 2 * control  # scaled by 1.1: density / 1.1 at q90 * 1.1
    return relative_unit_variance(control, q90, slower, (1 + REGRESSION) * q90)


def _first_caught(rng: np.random.Generator, looks: list[int], plan: Plan) -> int | None:
    per_arm = looks[-1] // 2
    control = rng.lognormal(0.0, SIGMA, per_arm)
    slower = (1 + REGRESSION) * rng.lognormal(0.0, SIGMA, per_arm)
    for total in looks:
        n = total // 2
        arms = [
            VariantData(key, 0.5, n, {"startup_p90": QuantileData(values[:n])})
            for key, values in (("control", control), ("slower", slower))
        ]
        if analyse(arms, plan).decisions[0].hint == "stop: guardrail hurt":
            return total
    return None


@pytest.mark.slow
def test_a_10_percent_p90_startup_regression_is_caught_when_the_power_calculation_says() -> None:
    unit_variance = _p90_unit_variance()
    n80 = sequential_units(unit_variance, REGRESSION, 0.05, 0.8, TUNING)
    n50 = sequential_units(unit_variance, REGRESSION, 0.05, 0.5, TUNING)
    fixed80 = fixed_horizon_units(unit_variance, REGRESSION, 0.05, 0.8)
    assert n80 is not None and n50 is not None and n50 < n80
    # Read ten times as the sessions grow (one session per viewer, both arms), at both
    # calculated sizes among them; the primary metric has no data: the guardrail decides.
    looks = sorted({2 * round(f * n80 / 2) for f in np.arange(0.1, 1.55, 0.15)} | {n50, n80})
    plan = Plan(
        "minutes_watched", guardrails=("startup_p90",), settings=Settings(sequential_tuning=TUNING)
    )
    rng = np.random.default_rng(90)
    started = time.perf_counter()
    caught = np.array([_first_caught(rng, looks, plan) or np.inf for _ in range(RUNS)])
    by_n80, by_n50 = float(np.mean(caught <= n80)), float(np.mean(caught <= n50))
    print(
        f"\n10% slower p90 start-up, {RUNS} experiments read {len(looks)} times: the power "
        f"calculation says {n80} sessions for 80% (sequential; {fixed80} read once at a fixed "
        f"horizon) and {n50} for 50%; simulated, caught by {n80}: {by_n80:.1%}, by {n50}: "
        f"{by_n50:.1%}, median sessions to the guardrail failure "
        f"{np.median(caught):.0f} ({time.perf_counter() - started:.1f} s)"
    )
    assert by_n80 == pytest.approx(0.8, abs=0.07)
    assert by_n50 == pytest.approx(0.5, abs=0.08)
    assert np.mean(np.isinf(caught)) < 0.1  # by 1.45 x n80 nearly all are caught


def test_the_half_width_is_gbstats_own_interval() -> None:
    rng = np.random.default_rng(7)
    a, b = MeanData.of(rng.normal(10, 3, 4_000)), MeanData.of(rng.normal(10.2, 3, 4_000))
    settings = Settings(sequential_tuning=TUNING)
    lift = compare(statistic(a, None, 0.05), statistic(b, None, 0.05), False, settings)
    half = (lift.sequential.high - lift.sequential.low) / 2
    assert sequential_half_width(lift.variance, 8_000, 0.05, TUNING) == pytest.approx(
        half, rel=1e-9
    )


def test_the_fixed_horizon_size_is_the_textbook_one() -> None:
    # (1.96 + 0.8416)^2 / 0.1^2 = 784.9 units at unit variance 1
    assert fixed_horizon_units(1.0, 0.1, 0.05, 0.8) == 785
    assert fixed_horizon_units(2.0, 0.1, 0.05, 0.8) == 1570
    seq = sequential_units(1.0, 0.1, 0.05, 0.8, 5_000)
    assert seq is not None and 785 < seq < 4 * 785  # peeking freely costs units, not validity
    assert sequential_units(1.0, 0.0, 0.05, 0.8, 5_000) is None
    assert sequential_units(1.0, 1e-9, 0.05, 0.8, 5_000) is None  # beyond any experiment
