"""Rung selection for a per-title ladder: bitrates along the measured hull, then coverage.

``select_rungs`` names its steps: the bitrate range (top and bottom), the targets between
them, a size for each target, dropping rungs a viewer cannot tell apart, coverage rungs
added below, and the rungs themselves. Pure: points in, rungs out, no ffmpeg.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from reelflow.domain.ladders import Measurement, Rung, even_size, fit_dimensions, named_rungs
from reelflow.domain.plans import MIN_RUNGS, coverage_ceilings, coverage_problems, is_tiny
from reelflow.media.ladder import STANDARD_HEIGHTS, LadderError, LadderOptions
from reelflow.media.ladder_curves import (
    apple_cap_kbps,
    bitrate_for_quality,
    convex_hull,
    crf_for_bitrate,
    quality_at,
)
from reelflow.media.quality import Metric


@dataclass
class _Candidate:
    height: int
    kbps: float
    quality: float


@dataclass(frozen=True)
class _Pricing:
    """What a rung of a given height may spend and how it looks at a bitrate, from the
    measurements, the source shape and the Apple cap."""

    hull: Sequence[Measurement]
    points: Sequence[Measurement]
    options: LadderOptions
    src_width: int
    src_height: int
    # Sizes measured (at most the source's), and sizes a rung may move up to: measured
    # ones and the usual ladder heights.
    measured_heights: list[int]
    lift_heights: list[int]

    @classmethod
    def of(
        cls,
        hull: Sequence[Measurement],
        points: Sequence[Measurement],
        options: LadderOptions,
        src_width: int,
        src_height: int,
    ) -> _Pricing:
        measured = sorted({m.height for m in points if m.height <= src_height})
        lift = sorted({*measured, *(h for h in STANDARD_HEIGHTS if h < src_height), src_height})
        return cls(hull, points, options, src_width, src_height, measured, lift)

    def size(self, height: int) -> tuple[int, int]:
        w, h = fit_dimensions(self.src_width, self.src_height, height)
        return min(w, even_size(self.src_width)), h

    def cap(self, height: int) -> float:
        return min(float(self.options.max_kbps), apple_cap_kbps(*self.size(height)))

    def between(self, height: int, at: Callable[[int], float | None]) -> float | None:
        """``at(height)``, or for an unmeasured size interpolated (log height) between the
        measured sizes around it, or the nearest one."""
        value = at(height)
        if value is not None:
            return value
        lower = [h for h in self.measured_heights if h < height]
        upper = [h for h in self.measured_heights if h > height]
        lo = at(max(lower)) if lower else None
        hi = at(min(upper)) if upper else None
        if lo is None or hi is None:
            return lo if hi is None else hi
        t = math.log(height / max(lower)) / math.log(min(upper) / max(lower))
        return lo + t * (hi - lo)

    def quality(self, height: int, kbps: float) -> float:
        # The hull is the best any size gets at a bitrate: a bound for every size's curve
        # (whose clamped ends would otherwise over-state it below its measured range).
        best = quality_at(self.hull, kbps) or 0.0
        own = self.between(
            height, lambda h: quality_at([m for m in self.points if m.height == h], kbps)
        )
        return best if own is None else min(own, best)

    def crf(self, height: int, kbps: float) -> float | None:
        value = self.between(height, lambda h: crf_for_bitrate(self.points, h, kbps))
        return None if value is None else round(value, 1)

    def candidate(self, height: int, kbps: float) -> _Candidate:
        return _Candidate(height, kbps, self.quality(height, kbps))


def select_rungs(
    hull: Sequence[Measurement],
    *,
    metric: Metric,
    options: LadderOptions,
    src_width: int,
    src_height: int,
    measurements: Sequence[Measurement] = (),
) -> tuple[Rung, ...]:
    """Place rungs along the hull, then make sure every viewer has one.

    Bitrates (the per-title part):
    - Top: where quality saturates, else the best measured point, and never above what the
      fixed ladder spends on its top rung for this source (``apple_cap_kbps``) nor
      ``max_kbps``. Content that never saturates (noise) stops at that cap. Where the fixed
      ladder's top rung reaches VMAF 93, the hull (the best of capped-CRF encodes at every
      measured size, which beat ABR at equal bits) reaches at least that at the same
      bitrate, so a top rung at min(saturation 95, cap) reaches it too.
    - Bottom: where the hull crosses the quality floor, kept between ``min_kbps`` and
      ``bottom_max_kbps`` (a poor network needs a cheap rung whatever it looks like).
    - Between: equal bitrate ratios of at least ``min_step``, at most ``max_rungs``; each
      rung takes the resolution of the nearest hull point (never decreasing, never above
      the source), or a taller one (measured or a usual ladder height, CRF interpolated
      between the measured sizes around it) if the Apple table spends less than the rung
      at that size: no rung spends more than the fixed ladder would on its size.
    - Rungs less than one JND (``jnd``: 6 VMAF) or ``min_step`` from a kept neighbour are
      dropped: two rungs a viewer cannot tell apart only cost storage and switches; unless
      dropping one leaves adjacent rungs more than ``max_step`` apart in bitrate.

    Coverage (``reelflow.domain.plans``, the same heights entitlements use), added below
    the lowest rung: one rung at or below each plan's ceiling and the weak-device height,
    and at least ``MIN_RUNGS`` unless the source is tiny. An added rung sits at the tallest
    measured size under its ceiling, at the bitrate where that size reaches the quality of
    the rung above (or saturates), at most the rung above / ``min_step`` and the Apple cap.
    """
    if not hull:
        raise LadderError("no measurements to build a ladder from")
    pricing = _Pricing.of(hull, list(measurements or hull), options, src_width, src_height)
    top, bottom = _bitrate_range(pricing, metric)
    candidates = _place_on_hull(_target_bitrates(top, bottom, options), pricing)
    kept = _drop_indistinct(candidates, options, jnd=options.jnd[metric])
    _add_coverage(kept, pricing, saturation=options.saturation[metric])
    return _to_rungs(kept, pricing)


def _bitrate_range(pricing: _Pricing, metric: Metric) -> tuple[float, float]:
    """Top (saturation, capped) and bottom (the quality floor, kept cheap) bitrates."""
    hull, options = pricing.hull, pricing.options
    sat = bitrate_for_quality(hull, options.saturation[metric])
    top = sat if sat is not None else hull[-1].bitrate_kbps
    top = min(max(top, float(options.min_kbps)), pricing.cap(pricing.src_height))
    floor_q = options.min_quality[metric]
    crossing = bitrate_for_quality(hull, floor_q) if hull[0].quality < floor_q else None
    bottom = crossing if crossing is not None else float(options.min_kbps)
    bottom = min(max(bottom, float(options.min_kbps)), float(options.bottom_max_kbps), top)
    return top, bottom


def _target_bitrates(top: float, bottom: float, options: LadderOptions) -> list[float]:
    """Equal bitrate ratios of at least ``min_step`` from bottom to top, ``max_rungs`` at most."""
    ratio = top / bottom
    if ratio < options.min_step or options.max_rungs == 1:
        return [top]
    n = min(options.max_rungs, math.floor(math.log(ratio) / math.log(options.min_step)) + 1)
    step = ratio ** (1.0 / (n - 1))
    return [bottom * step**i for i in range(n)]


def _place_on_hull(targets: Sequence[float], pricing: _Pricing) -> list[_Candidate]:
    """Each target at the size of the nearest hull point (never decreasing), lifted to a
    taller size where the Apple table spends less than the target on that one."""
    cands: list[_Candidate] = []
    best_height = 0
    for kbps in targets:
        nearest = min(pricing.hull, key=lambda m: abs(math.log(m.bitrate_kbps / kbps)))
        height = max(best_height, min(nearest.height, pricing.src_height))
        # A rung keeps its bits and moves up to a size the Apple table spends them on.
        taller = [h for h in pricing.lift_heights if h >= height and pricing.cap(h) >= kbps - 0.5]
        height = min(taller) if taller else pricing.src_height
        kbps = min(kbps, pricing.cap(height))
        best_height = height
        cands.append(pricing.candidate(height, kbps))
    return cands


def _drop_indistinct(
    cands: Sequence[_Candidate], options: LadderOptions, *, jnd: float
) -> list[_Candidate]:
    """Top down, keep a candidate a JND and ``min_step`` from the last kept one (or one
    whose loss leaves a gap over ``max_step``); the cheap bottom rung always stays.
    Lowest bitrate first."""
    kept = [cands[-1]]
    for i in range(len(cands) - 2, -1, -1):
        cand, last = cands[i], kept[-1]
        spaced = last.kbps / cand.kbps >= options.min_step - 1e-9
        distinct = last.quality - cand.quality >= jnd
        # ...but never a gap a player cannot bridge: keep it if dropping it would leave
        # more than max_step to the next candidate down.
        gap = i > 0 and last.kbps / cands[i - 1].kbps > options.max_step
        if spaced and (distinct or gap):
            kept.append(cand)
    if kept[-1] is not cands[0] and kept[-1].kbps > options.bottom_max_kbps:
        # The cheap rung stays; it replaces the lowest kept one above it, if that leaves
        # no gap wider than max_step.
        if len(kept) > 1 and kept[-2].kbps / cands[0].kbps <= options.max_step:
            kept[-1] = cands[0]
        else:
            kept.append(cands[0])
    kept.reverse()
    return kept


def _tallest(heights: Sequence[int], limit: int) -> int | None:
    fits = [h for h in heights if h <= limit]
    return max(fits) if fits else None


def _add_below(kept: list[_Candidate], height: int, pricing: _Pricing, saturation: float) -> None:
    """A rung at ``height`` under the lowest one: as cheap as that size looks as good."""
    options = pricing.options
    under = kept[0]
    kbps = under.kbps / options.min_step
    own = convex_hull([m for m in pricing.points if m.height == height])
    same = bitrate_for_quality(own, min(under.quality, saturation)) if own else None
    if same is not None:  # cheaper when the smaller size already looks as good
        kbps = max(min(kbps, same), under.kbps / options.max_step)
    kbps = max(1.0, min(kbps, pricing.cap(height)))
    kept.insert(0, pricing.candidate(height, kbps))


def _add_coverage(kept: list[_Candidate], pricing: _Pricing, *, saturation: float) -> None:
    """Rungs below the lowest for each plan ceiling and weak devices, and up to
    ``MIN_RUNGS`` unless the source is tiny; measured sizes first (their own curves price
    the rung), then the usual heights."""
    measured, lift = pricing.measured_heights, pricing.lift_heights
    for ceiling in coverage_ceilings(pricing.src_height):
        if kept[0].height > ceiling:
            height = _tallest(measured, ceiling) or _tallest(lift, ceiling) or even_size(ceiling)
            _add_below(kept, height, pricing, saturation)
    while not is_tiny(pricing.src_height) and len(kept) < MIN_RUNGS:
        limit = kept[0].height - 1
        height = _tallest(measured, limit) or _tallest(lift, limit) or kept[0].height
        _add_below(kept, height, pricing, saturation)


def _to_rungs(kept: Sequence[_Candidate], pricing: _Pricing) -> tuple[Rung, ...]:
    """Named rungs at the source's shape with their CRF, checked for coverage."""
    specs: list[tuple[int, int, int]] = []
    crfs: list[float | None] = []
    for cand in kept:
        w, h = pricing.size(cand.height)
        specs.append((w, h, round(cand.kbps)))
        crfs.append(pricing.crf(cand.height, cand.kbps))
    # The placement above meets the rule by construction; checking it here means a bug in
    # it fails the analysis instead of publishing a title some plan cannot play.
    problems = coverage_problems([h for _, h, _ in specs], pricing.src_height)
    if problems:
        raise LadderError(f"ladder misses coverage: {'; '.join(problems)}")
    return named_rungs(specs, pricing.options.codec, crfs)
