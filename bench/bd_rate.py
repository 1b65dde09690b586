"""Bjøntegaard delta rate: the mean bitrate difference at equal quality between two
rate-quality curves, over the quality range both cover.

Log bitrate is interpolated as a function of quality with a monotone piecewise cubic
(PCHIP, Fritsch-Carlson slopes: no overshoot between rungs, unlike the cubic polynomial
of the original method), then integrated over the overlap. scipy is not installed here,
so the interpolant is implemented below.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def pchip_slopes(x: Sequence[float], y: Sequence[float]) -> list[float]:
    """Knot derivatives of the monotone cubic Hermite interpolant (x strictly increasing)."""
    n = len(x)
    h = [x[i + 1] - x[i] for i in range(n - 1)]
    delta = [(y[i + 1] - y[i]) / h[i] for i in range(n - 1)]
    if n == 2:
        return [delta[0], delta[0]]
    d = [0.0] * n
    for i in range(1, n - 1):
        if delta[i - 1] * delta[i] <= 0:
            d[i] = 0.0
        else:  # weighted harmonic mean (Fritsch-Butland), as scipy's PchipInterpolator
            w1, w2 = 2 * h[i] + h[i - 1], h[i] + 2 * h[i - 1]
            d[i] = (w1 + w2) / (w1 / delta[i - 1] + w2 / delta[i])

    def end(h0: float, h1: float, m0: float, m1: float) -> float:
        slope = ((2 * h0 + h1) * m0 - h0 * m1) / (h0 + h1)
        if slope * m0 <= 0:
            return 0.0
        if m0 * m1 <= 0 and abs(slope) > abs(3 * m0):
            return 3 * m0
        return slope

    d[0] = end(h[0], h[1], delta[0], delta[1])
    d[-1] = end(h[-1], h[-2], delta[-1], delta[-2])
    return d


def pchip(x: Sequence[float], y: Sequence[float], t: float) -> float:
    """The interpolant at ``t`` (clamped to [x[0], x[-1]])."""
    d = pchip_slopes(x, y)
    t = min(max(t, x[0]), x[-1])
    i = max(0, min(len(x) - 2, next((k for k in range(len(x) - 1) if t <= x[k + 1]), 0)))
    h = x[i + 1] - x[i]
    s = (t - x[i]) / h
    h00, h10 = 2 * s**3 - 3 * s**2 + 1, s**3 - 2 * s**2 + s
    h01, h11 = -2 * s**3 + 3 * s**2, s**3 - s**2
    return h00 * y[i] + h10 * h * d[i] + h01 * y[i + 1] + h11 * h * d[i + 1]


def rate_quality_curve(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """(kbps, quality) sorted by rate, keeping only rungs that raise quality: a rung that
    costs more and looks no better is not on the ladder's curve."""
    curve: list[tuple[float, float]] = []
    for kbps, q in sorted(p for p in points if p[0] > 0 and math.isfinite(p[1])):
        if not curve or q > curve[-1][1] + 1e-9:
            curve.append((kbps, q))
    return curve


def bd_rate(
    anchor: Sequence[tuple[float, float]], test: Sequence[tuple[float, float]], *, steps: int = 400
) -> float | None:
    """BD-rate of ``test`` against ``anchor`` as a fraction (-0.3: 30% fewer bits for the
    same quality); None when a curve has fewer than two points or they do not overlap."""
    a, b = rate_quality_curve(anchor), rate_quality_curve(test)
    if len(a) < 2 or len(b) < 2:
        return None
    lo, hi = max(a[0][1], b[0][1]), min(a[-1][1], b[-1][1])
    if hi - lo < 1e-6:
        return None

    def mean_log_rate(curve: list[tuple[float, float]]) -> float:
        qs = [q for _, q in curve]
        logs = [math.log(r) for r, _ in curve]
        # Simpson's rule over [lo, hi]
        n = steps + steps % 2
        width = (hi - lo) / n
        total = 0.0
        for k in range(n + 1):
            weight = 1 if k in (0, n) else (4 if k % 2 else 2)
            total += weight * pchip(qs, logs, lo + k * width)
        return total * width / 3 / (hi - lo)

    return math.exp(mean_log_rate(b) - mean_log_rate(a)) - 1
