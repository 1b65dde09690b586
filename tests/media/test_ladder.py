from __future__ import annotations

import itertools
import math
from pathlib import Path

import pytest

from reelflow.media.ladder import (
    Ladder,
    LadderError,
    LadderOptions,
    Measurement,
    analyse_per_title,
    analysis_resolutions,
    apple_fixed_ladder,
    bitrate_for_quality,
    convex_hull,
    sample_windows,
    select_rungs,
)
from reelflow.media.probe import probe
from tests.media._clips_b import FFMPEG, FFPROBE, VMAF_FFMPEG, Clips, clips_b

__all__ = ["clips_b"]


# ---- Apple fixed ladder ---------------------------------------------------------------


def test_apple_ladder_1080p_is_the_full_h264_table() -> None:
    ladder = apple_fixed_ladder(1920, 1080)
    assert ladder.method == "fixed"
    assert [r.bitrate_kbps for r in ladder.rungs] == [
        145,
        365,
        730,
        1100,
        2000,
        3000,
        4500,
        6000,
        7800,
    ]
    assert (ladder.rungs[0].width, ladder.rungs[0].height) == (416, 234)
    assert (ladder.top.width, ladder.top.height) == (1920, 1080)
    assert len({r.name for r in ladder.rungs}) == len(ladder.rungs)


def test_apple_ladder_never_exceeds_source() -> None:
    ladder = apple_fixed_ladder(1280, 720)
    assert ladder.top.bitrate_kbps == 4500
    assert all(r.width <= 1280 and r.height <= 720 for r in ladder.rungs)
    small = apple_fixed_ladder(640, 360)
    assert [(r.width, r.height, r.bitrate_kbps) for r in small.rungs] == [
        (416, 234, 145),
        (640, 360, 365),
    ]


def test_rungs_of_other_codecs_lead_with_the_codec_so_two_ladders_never_clash() -> None:
    h264 = apple_fixed_ladder(1280, 720)
    av1 = apple_fixed_ladder(1280, 720, codec="av1")
    assert [r.name for r in av1.rungs] == [f"av1_{r.name}" for r in h264.rungs]
    assert not {r.name for r in av1.rungs} & {r.name for r in h264.rungs}
    assert {r.codec for r in av1.rungs} == {"av1"}


def test_apple_ladder_keeps_scope_aspect_ratio() -> None:
    ladder = apple_fixed_ladder(640, 272)
    assert [(r.width, r.height) for r in ladder.rungs] == [(416, 176), (640, 272)]
    assert all(r.width % 2 == 0 and r.height % 2 == 0 for r in ladder.rungs)


def test_apple_ladder_for_tiny_source_has_one_rung_at_source_size() -> None:
    ladder = apple_fixed_ladder(320, 180)
    assert [(r.width, r.height, r.bitrate_kbps) for r in ladder.rungs] == [(320, 180, 145)]


def test_ladder_dict_round_trip() -> None:
    hull = (Measurement(640, 360, 26, 500.0, 90.0),)
    ladder = Ladder(
        rungs=apple_fixed_ladder(1280, 720).rungs,
        method="per_title",
        metric="vmaf",
        measurements=(*hull, Measurement(426, 240, 26, 300.0, 70.0)),
        hull=hull,
    )
    assert Ladder.from_dict(ladder.to_dict()) == ladder


# ---- pure helpers -----------------------------------------------------------------------


def test_analysis_resolutions_start_at_source_and_shrink() -> None:
    assert analysis_resolutions(1920, 1080, 4) == [
        (1920, 1080),
        (1280, 720),
        (768, 432),
        (426, 240),
    ]
    assert analysis_resolutions(640, 360, 4) == [(640, 360), (426, 240)]
    assert analysis_resolutions(1000, 500, 2) == [(1000, 500), (480, 240)]  # 360 is < 1.4x


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


def test_sample_windows_spread_and_avoid_excluded() -> None:
    wins = sample_windows(60.0, count=3, length_s=2.0)
    assert wins == [(9.0, 2.0), (29.0, 2.0), (49.0, 2.0)]
    wins = sample_windows(60.0, count=3, length_s=2.0, exclude=[(0.0, 10.0), (48.0, 60.0)])
    for start, length in wins:
        assert not (start < 10.0 and start + length > 0.0)
        assert not (start < 60.0 and start + length > 48.0)
    assert sample_windows(3.0, count=3, length_s=2.0) == [(0.0, 3.0)]


def test_bad_options_raise() -> None:
    with pytest.raises(LadderError):
        LadderOptions(min_step=0.9)
    with pytest.raises(LadderError):
        LadderOptions(min_kbps=5000, max_kbps=1000)


# ---- analysis on real encodes -------------------------------------------------------------

_FAST = LadderOptions(sample_count=2, sample_s=1.0, max_kbps=8000)


@pytest.mark.slow
@pytest.mark.skipif(VMAF_FFMPEG is None, reason="no libvmaf ffmpeg")
def test_per_title_ladders_follow_complexity(clips_b: Clips) -> None:
    ladders = {}
    for name in ("low", "high"):
        info = probe(clips_b[name], ffprobe=FFPROBE)
        ladders[name] = analyse_per_title(
            clips_b[name], info, ffmpeg=FFMPEG, ffmpeg_vmaf=VMAF_FFMPEG, options=_FAST
        )
    low, high = ladders["low"], ladders["high"]
    for ladder in (low, high):
        assert ladder.method == "per_title" and ladder.metric == "vmaf"
        assert len(ladder.measurements) == 2 * 4  # 640x360 and 426x240, 4 CRFs each
        assert ladder.hull and set(ladder.hull) <= set(ladder.measurements)
        assert all(r.width <= 640 and r.height <= 360 for r in ladder.rungs)
    # The easy title needs fewer bits for its top rung and for the whole ladder.
    assert low.top.bitrate_kbps < high.top.bitrate_kbps
    assert low.total_kbps < high.total_kbps
    # ...and any quality a ladder spans costs it fewer bits.
    for quality in (60.0, 80.0, 90.0):
        easy, hard = bitrate_for_quality(low.hull, quality), bitrate_for_quality(high.hull, quality)
        assert easy is not None and (hard is None or easy < hard), quality
    assert Ladder.from_dict(low.to_dict()) == low


def test_per_title_falls_back_to_psnr(clips_b: Clips, tmp_path: Path) -> None:
    info = probe(clips_b["low"], ffprobe=FFPROBE)
    progress: list[float] = []
    opts = LadderOptions(sample_count=1, sample_s=1.0, analysis_resolutions=1, crf_values=(24, 36))
    ladder = analyse_per_title(
        clips_b["low"],
        info,
        ffmpeg=FFMPEG,
        ffmpeg_vmaf=None,
        options=opts,
        on_progress=progress.append,
        work_dir=tmp_path,
    )
    assert ladder.metric == "psnr"
    assert all(20 < m.quality <= 100 for m in ladder.measurements)
    assert progress[-1] == pytest.approx(1.0)
    assert list(tmp_path.iterdir()) == []  # work files cleaned up
