from __future__ import annotations

import itertools
import math

import pytest

from bench.bd_rate import bd_rate, pchip, rate_quality_curve

ANCHOR = [(145, 40.0), (365, 60.0), (730, 72.0), (2000, 85.0), (4500, 93.0), (7800, 96.0)]


def test_same_curve_is_zero_and_scaled_rates_give_the_scale() -> None:
    assert bd_rate(ANCHOR, ANCHOR) == pytest.approx(0.0, abs=1e-12)
    half = [(r / 2, q) for r, q in ANCHOR]
    assert bd_rate(ANCHOR, half) == pytest.approx(-0.5, abs=1e-9)
    assert bd_rate(half, ANCHOR) == pytest.approx(1.0, abs=1e-9)


def test_only_the_overlap_counts() -> None:
    # The test curve covers quality 60-85 only, where it is 20% cheaper (its three points
    # bend a little differently from the anchor's six between the knots).
    test = [(r * 0.8, q) for r, q in ANCHOR[1:4]]
    assert bd_rate(ANCHOR, test) == pytest.approx(-0.2, abs=0.02)
    # ...and the anchor's rungs outside 60-85 do not move it
    assert bd_rate(ANCHOR[1:4], test) == pytest.approx(-0.2, abs=1e-9)
    assert bd_rate(ANCHOR, [(100, 97.0), (200, 99.0)]) is None  # no overlap
    assert bd_rate(ANCHOR, [(100, 50.0)]) is None  # one point is no curve


def test_pchip_is_monotone_and_exact_at_knots() -> None:
    xs, ys = [40.0, 60.0, 72.0, 85.0, 93.0], [math.log(r) for r, _ in ANCHOR[:5]]
    for x, y in zip(xs, ys, strict=True):
        assert pchip(xs, ys, x) == pytest.approx(y)
    samples = [pchip(xs, ys, xs[0] + k * (xs[-1] - xs[0]) / 200) for k in range(201)]
    assert all(b >= a - 1e-12 for a, b in itertools.pairwise(samples))
    # reproduces a straight line exactly
    assert pchip([0.0, 1.0, 3.0], [1.0, 3.0, 7.0], 2.0) == pytest.approx(5.0)


def test_rungs_that_do_not_raise_quality_are_off_the_curve() -> None:
    assert rate_quality_curve([(300, 70.0), (200, 72.0), (500, 71.0), (800, 90.0)]) == [
        (200, 72.0),
        (800, 90.0),
    ]
