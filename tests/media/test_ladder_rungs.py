"""Rung selection on synthetic hulls: steps, bounds, saturation, CRF, coverage below."""

from __future__ import annotations

import itertools
import math

import pytest

from reelflow.domain.ladders import Measurement, apple_fixed_ladder
from reelflow.media.ladder import LadderError, LadderOptions
from reelflow.media.ladder_curves import bitrate_for_quality, convex_hull
from reelflow.media.ladder_rungs import select_rungs
from tests.media.test_ladder_curves import _m


def _synthetic_hull(scale: float) -> list[Measurement]:
    """A saturating rate-quality curve; ``scale`` multiplies the bits needed everywhere."""
    pts = []
    for h, base in ((240, 1.0), (432, 1.8), (720, 3.5)):
        for kbps in (100, 200, 400, 800, 1600, 3200, 6400, 12800):
            k = kbps / scale
            q = min(100.0, 100 * (1 - math.exp(-k / (250 * base)))) - (3 if h == 240 else 0)
            pts.append(_m(h, kbps, q))
    return convex_hull(pts)


def test_select_rungs_respects_steps_bounds_and_source() -> None:
    opts = LadderOptions(max_kbps=6000, min_kbps=150, max_rungs=6)
    rungs = select_rungs(
        _synthetic_hull(4.0), metric="vmaf", options=opts, src_width=1280, src_height=720
    )
    rates = [r.bitrate_kbps for r in rungs]
    assert rates == sorted(rates)
    assert all(b / a >= 1.5 - 1e-6 for a, b in itertools.pairwise(rates))
    assert rates[0] <= 250 and rates[-1] <= 6000  # coverage rungs may go under min_kbps
    assert len(rungs) <= 6 + 2  # max_rungs on the hull, plus coverage for 540p and 360p
    heights = [r.height for r in rungs]
    assert heights == sorted(heights) and max(heights) <= 720
    assert all(r.maxrate_kbps > r.bitrate_kbps and r.bufsize_kbps >= r.maxrate_kbps for r in rungs)
    assert len({r.name for r in rungs}) == len(rungs)


def test_select_rungs_top_stops_at_saturation() -> None:
    hull = _synthetic_hull(1.0)
    opts = LadderOptions(max_kbps=20000)
    rungs = select_rungs(hull, metric="vmaf", options=opts, src_width=1280, src_height=720)
    top = rungs[-1].bitrate_kbps
    saturation = bitrate_for_quality(hull, opts.saturation["vmaf"])
    assert saturation is not None and top == pytest.approx(saturation, abs=0.5)
    assert top < hull[-1].bitrate_kbps


def test_select_rungs_top_capped_by_max_when_never_saturating() -> None:
    hull = _synthetic_hull(50.0)
    opts = LadderOptions(max_kbps=3000)
    rungs = select_rungs(hull, metric="vmaf", options=opts, src_width=1280, src_height=720)
    assert rungs[-1].bitrate_kbps == 3000


def test_harder_content_gets_more_bits() -> None:
    opts = LadderOptions(max_kbps=8000)
    easy = select_rungs(
        _synthetic_hull(1.0), metric="vmaf", options=opts, src_width=1280, src_height=720
    )
    hard = select_rungs(
        _synthetic_hull(4.0), metric="vmaf", options=opts, src_width=1280, src_height=720
    )
    assert easy[-1].bitrate_kbps < hard[-1].bitrate_kbps


def test_select_rungs_narrow_range_gets_one_hull_rung_and_coverage_below() -> None:
    hull = [_m(360, 40, 90.0), _m(360, 60, 97.0)]
    rungs = select_rungs(
        hull, metric="vmaf", options=LadderOptions(min_kbps=100), src_width=640, src_height=360
    )
    # The hull gives one rung (min_kbps); a 360p source is not tiny: two smaller below.
    assert (rungs[-1].height, rungs[-1].bitrate_kbps) == (360, 100)
    assert len(rungs) == 3 and all(r.height == 240 for r in rungs[:2])
    rates = [r.bitrate_kbps for r in rungs]
    assert rates == sorted(rates) and all(b / a >= 1.49 for a, b in itertools.pairwise(rates))


def test_rungs_carry_interpolated_crf() -> None:
    pts = [
        Measurement(640, 360, crf, kbps, q)
        for crf, kbps, q in ((20, 1600, 96), (26, 800, 92), (32, 400, 85))
    ]
    pts += [Measurement(426, 240, crf, kbps, q) for crf, kbps, q in ((26, 400, 80), (32, 200, 70))]
    hull = convex_hull(pts)
    rungs = select_rungs(
        hull,
        metric="vmaf",
        options=LadderOptions(min_kbps=150),
        src_width=640,
        src_height=360,
        measurements=pts,
    )
    for r in rungs:
        assert r.crf is not None and 20 <= r.crf <= 32
    crfs = [r.crf or 0.0 for r in rungs if r.height == 360]
    assert crfs == sorted(crfs, reverse=True)  # more bits, lower CRF
    assert all(r.crf is None for r in apple_fixed_ladder(640, 360).rungs)


def test_select_rungs_needs_points() -> None:
    with pytest.raises(LadderError):
        select_rungs([], metric="vmaf", options=LadderOptions(), src_width=640, src_height=360)
