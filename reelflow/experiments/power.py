"""How many units (viewers, or sessions for a per-session metric) an effect needs.

Everything is in total units over both arms, as gbstats counts N for its sequential test,
and in ``unit_variance``: the variance of the lift estimate times the total units, so the
estimate's variance at N units is ``unit_variance / N``.

- fixed horizon, read once: N = unit_variance (z[1 - alpha/2] + z[power])^2 / effect^2;
- sequential (read every day): the smallest N at which the effect clears the always-valid
  interval's half-width plus z[power] standard errors, that is: read at N, the interval
  excludes zero with the asked power; read earlier too, it can only be caught sooner.
The half-width is gbstats' own (Waudby-Smith et al. 2023, eq. 9 with its rho, eq. 161);
tests/experiments/test_power.py checks it against gbstats' interval.
"""

from __future__ import annotations

import math

from gbstats.frequentist.tests import frequentist_variance
from scipy.stats import norm

# Past this many units the search stops: an effect that small is not worth an experiment.
MAX_UNITS = 10**12


def relative_unit_variance(
    var_a: float, mean_a: float, var_b: float, mean_b: float, share_b: float = 0.5
) -> float:
    """``unit_variance`` of a relative lift from each arm's per-unit variance and mean
    (gbstats' delta method, with the arms' shares of the units in place of their sizes)."""
    return float(frequentist_variance(var_a, mean_a, 1 - share_b, var_b, mean_b, share_b, True))


def quantile_unit_variance(nu: float, density: float) -> float:
    """Per-unit variance of a sample quantile: nu (1 - nu) / f(q)^2 (its sampling variance
    times n), f the density at the quantile."""
    return nu * (1 - nu) / density**2


def _rho(alpha: float, tuning: float) -> float:
    return math.sqrt((-2 * math.log(alpha) + math.log(-2 * math.log(alpha) + 1)) / tuning)


def sequential_half_width(variance: float, total: float, alpha: float, tuning: float) -> float:
    """Half-width of gbstats' always-valid interval for an estimate of ``variance`` at
    ``total`` units."""
    r2n = total * _rho(alpha, tuning) ** 2
    s2 = variance * total
    return math.sqrt(s2) * math.sqrt(
        2 * (r2n + 1) * math.log(math.sqrt(r2n + 1) / alpha) / (total * r2n)
    )


def fixed_horizon_units(unit_variance: float, effect: float, alpha: float, power: float) -> int:
    z = norm.ppf(1 - alpha / 2) + norm.ppf(power)
    return math.ceil(unit_variance * z**2 / effect**2)


def _caught(
    unit_variance: float, effect: float, total: int, alpha: float, power: float, tuning: float
) -> bool:
    variance = unit_variance / total
    margin = sequential_half_width(variance, total, alpha, tuning)
    return abs(effect) >= margin + norm.ppf(power) * math.sqrt(variance)


def sequential_units(
    unit_variance: float, effect: float, alpha: float, power: float, tuning: float
) -> int | None:
    """Smallest total units at which the sequential test catches ``effect`` with ``power``;
    None past MAX_UNITS."""
    if effect == 0 or unit_variance <= 0:
        return None if effect == 0 else 2
    high = max(2, fixed_horizon_units(unit_variance, effect, alpha, power))
    while high <= MAX_UNITS and not _caught(unit_variance, effect, high, alpha, power, tuning):
        high *= 2
    if high > MAX_UNITS:
        return None
    low = high // 2  # not caught at low (or low is below the fixed-horizon size)
    while high - low > 1:
        middle = (low + high) // 2
        if _caught(unit_variance, effect, middle, alpha, power, tuning):
            high = middle
        else:
            low = middle
    return high
