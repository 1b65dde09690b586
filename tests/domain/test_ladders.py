"""Ladders as values: the fixed (Apple) ladder fitted to a source, names, and the dict form."""

from __future__ import annotations

import pytest

from reelflow.domain.ladders import InvalidLadder, Ladder, Measurement, apple_fixed_ladder


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


def test_a_source_without_a_size_has_no_fixed_ladder() -> None:
    with pytest.raises(InvalidLadder, match="source size must be positive"):
        apple_fixed_ladder(0, 1080)
