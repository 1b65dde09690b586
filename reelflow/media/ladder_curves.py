"""Rate-quality curves of a per-title analysis: the upper convex hull of the measured
points, and reading bitrate, quality and CRF off it; the Apple table's spend at a size.

Pure functions over ``Measurement`` points, testable without ffmpeg.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

from reelflow.domain.ladders import APPLE_H264_TABLE, Measurement


def convex_hull(points: Sequence[Measurement]) -> list[Measurement]:
    """Upper convex hull of (log bitrate, quality), lowest bitrate first.

    Points that are not Pareto-optimal (another point has >= quality for <= bits) are
    dropped first; the hull is then concave, so quality per extra bit only falls along it.
    Log bitrate is the axis because ladders are geometric in bitrate.
    """
    pts = sorted(
        (p for p in points if p.bitrate_kbps > 0 and math.isfinite(p.quality)),
        key=lambda p: (p.bitrate_kbps, -p.quality),
    )
    pareto: list[Measurement] = []
    for p in pts:
        if not pareto or p.quality > pareto[-1].quality:
            pareto.append(p)
    hull: list[Measurement] = []
    for p in pareto:
        while len(hull) >= 2 and _cross(hull[-2], hull[-1], p) >= 0:
            hull.pop()
        hull.append(p)
    return hull


def _cross(o: Measurement, a: Measurement, b: Measurement) -> float:
    ox, ax, bx = (math.log2(m.bitrate_kbps) for m in (o, a, b))
    return (ax - ox) * (b.quality - o.quality) - (a.quality - o.quality) * (bx - ox)


def bitrate_for_quality(hull: Sequence[Measurement], quality: float) -> float | None:
    """Lowest bitrate on the hull reaching ``quality``; None if the hull never does."""
    if not hull or hull[-1].quality < quality:
        return None
    if hull[0].quality >= quality:
        return hull[0].bitrate_kbps
    for a, b in itertools.pairwise(hull):
        if b.quality >= quality:
            t = (quality - a.quality) / (b.quality - a.quality)
            return a.bitrate_kbps * (b.bitrate_kbps / a.bitrate_kbps) ** t
    return None  # pragma: no cover - unreachable: hull[-1] reaches quality


def crf_for_bitrate(measurements: Sequence[Measurement], height: int, kbps: float) -> float | None:
    """CRF expected to give ``kbps`` at ``height`` (log-bitrate interpolation, clamped to
    the measured CRF range); None without measurements at that height."""
    pts = sorted((m for m in measurements if m.height == height), key=lambda m: m.bitrate_kbps)
    if not pts:
        return None
    if kbps <= pts[0].bitrate_kbps:
        return float(pts[0].crf)
    for a, b in itertools.pairwise(pts):
        if kbps <= b.bitrate_kbps and b.bitrate_kbps > a.bitrate_kbps:
            t = math.log(kbps / a.bitrate_kbps) / math.log(b.bitrate_kbps / a.bitrate_kbps)
            return round(a.crf + t * (b.crf - a.crf), 1)
    return float(pts[-1].crf)


def apple_cap_kbps(width: int, height: int) -> float:
    """What the Apple table spends at most on a ``width`` x ``height`` rung.

    The rung is placed in the 16:9 box it fills (a 1920x804 scope rung is a 1080 box, as in
    ``apple_fixed_ladder``); between table heights the rate is interpolated log-log, above
    1080 extrapolated on the 720->1080 slope, below the smallest box it is the table's
    lowest rate (what the fixed ladder gives a tiny source).
    """
    box = max(height, width * 9 / 16)
    tops: dict[int, int] = {}
    for _, h, kbps in APPLE_H264_TABLE:
        tops[h] = max(tops.get(h, 0), kbps)
    pts = sorted(tops.items())
    if box <= pts[0][0]:
        return float(pts[0][1])
    for (h0, k0), (h1, k1) in itertools.pairwise(pts):
        if box <= h1:
            t = math.log(box / h0) / math.log(h1 / h0)
            return k0 * (k1 / k0) ** t
    (h0, k0), (h1, k1) = pts[-2], pts[-1]
    return k1 * (box / h1) ** (math.log(k1 / k0) / math.log(h1 / h0))


def quality_at(points: Sequence[Measurement], kbps: float) -> float | None:
    """Quality the points' hull gives at ``kbps`` (log-bitrate interpolation; clamped above
    the measured range, extrapolated on the first segment below it, since a coarse analysis
    often measures nothing as cheap as the bottom rungs); None without points."""
    hull = convex_hull(points)
    if not hull:
        return None
    if kbps <= hull[0].bitrate_kbps:
        if len(hull) < 2:
            return hull[0].quality
        a, b = hull[0], hull[1]
        slope = (b.quality - a.quality) / math.log(b.bitrate_kbps / a.bitrate_kbps)
        return max(0.0, a.quality - slope * math.log(a.bitrate_kbps / kbps))
    for a, b in itertools.pairwise(hull):
        if kbps <= b.bitrate_kbps:
            t = math.log(kbps / a.bitrate_kbps) / math.log(b.bitrate_kbps / a.bitrate_kbps)
            return a.quality + t * (b.quality - a.quality)
    return hull[-1].quality
