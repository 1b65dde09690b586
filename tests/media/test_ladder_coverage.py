"""Per-title ladders from synthetic rate-quality curves: coverage (every plan, weak devices,
poor networks), the Apple cap on spending, and JND spacing. Pure and fast: no ffmpeg."""

from __future__ import annotations

import itertools
import math

import pytest

from reelflow.domain.ladders import Measurement, Rung, apple_fixed_ladder
from reelflow.domain.plans import PLAN_MAX_PIXELS, coverage_problems
from reelflow.media.ladder import LadderOptions, analysis_resolutions
from reelflow.media.ladder_curves import apple_cap_kbps, convex_hull, quality_at
from reelflow.media.ladder_rungs import select_rungs
from reelflow.playback_api.delivery.entitlements import PLAN_LIMITS

# CRF steps of 6 roughly halve the bitrate: 8x .. 1/4x the curve's knee.
_FACTORS = {14: 8.0, 20: 4.0, 26: 2.0, 32: 1.0, 38: 0.5, 44: 0.25}


def curves(width: int, height: int, knee_kbps: float) -> list[Measurement]:
    """Measurements at the analysis sizes of a ``width`` x ``height`` source.

    ``knee_kbps`` is what the source size needs to reach ~63 VMAF (flat: tens of kb/s,
    noise: hundreds of Mb/s). Smaller sizes need fewer bits but hit a ceiling, since
    upscaling loses detail: 100 at source size, ~68 at 240p of 1080p.
    """
    pts = []
    for w, h in analysis_resolutions(width, height, 4):
        share = h / height
        ceiling = 100 - 45 * (1 - share) ** 1.3
        knee = knee_kbps * share**1.5
        for crf, factor in _FACTORS.items():
            kbps = knee * factor
            pts.append(Measurement(w, h, crf, round(kbps, 1), ceiling * (1 - math.exp(-factor))))
    return pts


def ladder(width: int, height: int, knee_kbps: float, **opts: object) -> tuple[Rung, ...]:
    pts = curves(width, height, knee_kbps)
    return select_rungs(
        convex_hull(pts),
        metric="vmaf",
        options=LadderOptions(**opts),  # type: ignore[arg-type]
        src_width=width,
        src_height=height,
        measurements=pts,
    )


def assert_watchable(rungs: tuple[Rung, ...], src_height: int) -> None:
    heights = [r.height for r in rungs]
    assert coverage_problems(heights, src_height) == []
    for plan, limits in PLAN_LIMITS.items():  # the API's own plan table
        assert min(r.width * r.height for r in rungs) <= limits.max_pixels, plan
    assert rungs[0].bitrate_kbps <= 250
    rates = [r.bitrate_kbps for r in rungs]
    assert rates == sorted(rates) and len(set(rates)) == len(rates)
    # a player can step between neighbours (3x: LadderOptions.max_step, +1 kb/s rounding)
    assert all(b <= 3.0 * a + 1 for a, b in itertools.pairwise(rates)), rates
    assert heights == sorted(heights) and max(heights) <= src_height
    assert len({r.name for r in rungs}) == len(rungs)
    for r in rungs:  # no rung spends more than the fixed ladder on its size
        assert r.bitrate_kbps <= apple_cap_kbps(r.width, r.height) + 1, r


def test_plan_caps_have_one_home() -> None:
    assert {p: lim.max_pixels for p, lim in PLAN_LIMITS.items()} == PLAN_MAX_PIXELS


def test_flat_720p_title_gets_three_rungs_for_every_plan() -> None:
    rungs = ladder(1280, 720, knee_kbps=35)  # VMAF 95 at ~105 kb/s at 720p
    assert_watchable(rungs, 720)
    assert len(rungs) >= 3
    assert rungs[-1].height == 720 and rungs[-1].bitrate_kbps < 150  # still per-title cheap
    assert any(r.height <= 540 for r in rungs) and any(r.height <= 360 for r in rungs)


def test_576p_camera_clip_gets_several_sizes() -> None:
    rungs = ladder(768, 576, knee_kbps=800)
    assert_watchable(rungs, 576)
    assert len({r.height for r in rungs}) >= 3
    assert rungs[-1].height == 576


def test_busy_1080p_title_reaches_down_to_a_cheap_small_rung() -> None:
    rungs = ladder(1920, 1080, knee_kbps=3000)
    assert_watchable(rungs, 1080)
    assert rungs[-1].height == 1080 and rungs[-1].bitrate_kbps <= 7800
    assert rungs[0].height <= 360
    assert sum(r.height == 1080 for r in rungs) < len(rungs)


@pytest.mark.parametrize("size", [(320, 180), (426, 240)])
def test_tiny_source_may_have_one_rung_but_stays_cheap(size: tuple[int, int]) -> None:
    w, h = size
    for knee in (10.0, 300.0, 1e5):
        rungs = ladder(w, h, knee_kbps=knee)
        assert_watchable(rungs, h)
        # what the fixed ladder spends on a tiny source: its lowest rate
        assert rungs[-1].bitrate_kbps <= apple_fixed_ladder(w, h).top.bitrate_kbps + 10


def test_noise_stops_at_the_fixed_ladders_top_rate_not_max_kbps() -> None:
    for w, h in ((1280, 720), (1920, 1080), (1920, 804)):
        rungs = ladder(w, h, knee_kbps=1e6, max_kbps=20000)  # never saturates
        fixed_top = apple_fixed_ladder(w, h).top
        assert rungs[-1].height == fixed_top.height
        assert rungs[-1].bitrate_kbps == pytest.approx(fixed_top.bitrate_kbps, abs=1)
        assert_watchable(rungs, h)


def test_cap_interpolates_the_apple_table() -> None:
    assert apple_cap_kbps(1920, 1080) == pytest.approx(7800)
    assert apple_cap_kbps(1280, 720) == pytest.approx(4500)
    assert 2000 < apple_cap_kbps(1024, 576) < 4500
    assert apple_cap_kbps(320, 180) == pytest.approx(145)
    assert apple_cap_kbps(1920, 804) == pytest.approx(7800)  # scope film: the 1080 box
    assert apple_cap_kbps(3840, 2160) > 7800


def test_top_reaches_vmaf_93_wherever_the_fixed_top_does() -> None:
    """Sweep complexity: where the source-size curve reaches 93 at the Apple top rate
    (the fixed ladder's top rung), the per-title top reaches 93 too, for no more bits."""
    checked = 0
    for knee in (20, 100, 400, 800, 1200, 1600, 1700, 2000, 3000, 8000):
        pts = curves(1280, 720, knee)
        rungs = ladder(1280, 720, knee)
        top = rungs[-1]
        assert top.bitrate_kbps <= 4500
        at_src = [m for m in pts if m.height == 720]
        fixed_q = quality_at(at_src, 4500)
        ours = quality_at([m for m in pts if m.height == top.height], top.bitrate_kbps)
        assert fixed_q is not None and ours is not None
        if fixed_q >= 93:
            checked += 1
            assert ours >= 93 - 0.5, (knee, fixed_q, ours)
    assert checked >= 4


def test_rungs_are_a_jnd_apart_except_where_coverage_adds_one() -> None:
    pts = curves(1920, 1080, 1500)
    hull = convex_hull(pts)
    dense = ladder(1920, 1080, 1500, jnd={"vmaf": 0.0, "psnr": 0.0}, min_step=1.2, max_rungs=12)
    spaced = ladder(1920, 1080, 1500, min_step=1.2, max_rungs=12)
    assert len(spaced) < len(dense)
    assert_watchable(spaced, 1080)
    qualities = [
        min(
            quality_at([m for m in pts if m.height == r.height], r.bitrate_kbps) or 0,
            quality_at(hull, r.bitrate_kbps) or 0,
        )
        for r in spaced
    ]
    # the lowest pair may be closer (the bottom <= 250 kb/s rung is kept whatever it costs)
    for (a, qa), (b, qb) in itertools.pairwise(zip(spaced[1:], qualities[1:], strict=True)):
        assert qb - qa >= 6.0 - 1e-6, (a, b, qa, qb)


def test_coarse_analysis_of_noise_leaves_no_unbridgeable_gap() -> None:
    """Three CRFs at 720p only measure from ~1.5 Mb/s up on noise: the rungs below must
    not all look 'within a JND of the top' and vanish, leaving 150 kb/s next to 4.5 Mb/s."""
    pts = [
        Measurement(1280, 720, 20, 9000, 88.0),
        Measurement(1280, 720, 28, 4000, 84.0),
        Measurement(1280, 720, 36, 1500, 78.0),
        Measurement(768, 432, 20, 4000, 80.0),
        Measurement(768, 432, 28, 1800, 76.0),
        Measurement(768, 432, 36, 700, 68.0),
        Measurement(426, 240, 20, 1500, 66.0),
        Measurement(426, 240, 28, 700, 62.0),
        Measurement(426, 240, 36, 300, 55.0),
    ]
    rungs = select_rungs(
        convex_hull(pts),
        metric="vmaf",
        options=LadderOptions(),
        src_width=1280,
        src_height=720,
        measurements=pts,
    )
    assert_watchable(rungs, 720)
    assert rungs[-1].bitrate_kbps == 4500
    assert len(rungs) >= 4
