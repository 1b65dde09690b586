"""The rate-quality hull: dominated and concave points dropped, read back consistently."""

from __future__ import annotations

import itertools
import math

import pytest

from reelflow.domain.ladders import Measurement
from reelflow.media.ladder_curves import bitrate_for_quality, convex_hull


def _m(h: int, kbps: float, q: float) -> Measurement:
    return Measurement(round(h * 16 / 9 / 2) * 2, h, 0, kbps, q)


def test_convex_hull_drops_dominated_and_concave_points() -> None:
    pts = [
        _m(240, 100, 50),
        _m(240, 200, 60),  # under the chord 100->400: not on the hull
        _m(240, 400, 80),
        _m(240, 800, 79),  # dominated: more bits, less quality
        _m(360, 800, 88),
        _m(360, 1600, 92),
    ]
    hull = convex_hull(pts)
    assert [(m.height, m.bitrate_kbps) for m in hull] == [
        (240, 100),
        (240, 400),
        (360, 800),
        (360, 1600),
    ]
    # concave in log bitrate: slopes fall
    slopes = [
        (b.quality - a.quality) / math.log(b.bitrate_kbps / a.bitrate_kbps)
        for a, b in itertools.pairwise(hull)
    ]
    assert slopes == sorted(slopes, reverse=True)


def test_hull_interpolation_is_consistent() -> None:
    hull = convex_hull([_m(240, 100, 50), _m(360, 400, 80), _m(720, 1600, 95)])
    assert bitrate_for_quality(hull, 65.0) == pytest.approx(200.0)
    # clamped at the ends: what the cheapest point reaches costs its bitrate
    assert bitrate_for_quality(hull, 40.0) == 100
    assert bitrate_for_quality(hull, 95.0) == pytest.approx(1600.0)
    assert bitrate_for_quality(hull, 96.0) is None
