"""The one track-class rule: which key class a video picture gets, by its pixel count."""

from __future__ import annotations

import pytest

from reelflow.domain.plans import PLAN_MAX_PIXELS
from reelflow.domain.track_classes import (
    HD_MAX_PIXELS,
    SD_MAX_PIXELS,
    UHD_MAX_PIXELS,
    TrackClass,
    pixel_limit,
    pixels_text,
    track_class_for_height,
    track_class_for_picture,
)


@pytest.mark.parametrize(
    ("width", "height", "cls"),
    [
        (256, 144, "SD"),
        (640, 360, "SD"),
        (720, 576, "SD"),  # PAL
        (854, 480, "SD"),
        (768, 432, "SD"),
        (768, 576, "SD"),  # the SD limit itself: 442,368 pixels
        (770, 576, "HD"),
        (960, 540, "HD"),  # 518,400 pixels: only 540 lines, but more than SD
        (1024, 576, "HD"),
        (1280, 536, "HD"),  # a 2.39:1 film's rung: 686,080 pixels
        (1280, 720, "HD"),
        (1920, 804, "HD"),
        (1920, 1080, "HD"),  # the HD limit: 2,073,600 pixels
        (1998, 1080, "UHD"),  # DCI flat 2K: more than HD, the stricter class
        (2560, 1440, "UHD"),
        (3840, 2160, "UHD"),
        (7680, 4320, "UHD"),
    ],
)
def test_track_class_for_picture(width: int, height: int, cls: str) -> None:
    assert track_class_for_picture(width, height) is TrackClass(cls)


def test_a_wide_film_rung_is_hd_though_only_536_lines_tall() -> None:
    # The rule before issue 25 called it SD: a basic-plan ClearKey viewer got its key.
    assert track_class_for_height(536) is TrackClass.SD
    assert track_class_for_picture(1280, 536) is TrackClass.HD
    assert 1280 * 536 > SD_MAX_PIXELS == 768 * 576 == 442_368


@pytest.mark.parametrize(("width", "height"), [(0, 360), (640, 0), (-640, 360), (640, -1)])
def test_track_class_rejects_nonsense_sizes(width: int, height: int) -> None:
    with pytest.raises(ValueError, match="must be positive"):
        track_class_for_picture(width, height)


@pytest.mark.parametrize("height", [0, -1])
def test_legacy_height_rule_rejects_nonsense_height(height: int) -> None:
    with pytest.raises(ValueError, match="must be positive"):
        track_class_for_height(height)


@pytest.mark.parametrize(
    ("height", "cls"), [(540, "SD"), (576, "SD"), (577, "HD"), (1080, "HD"), (1081, "UHD")]
)
def test_legacy_height_rule_is_unchanged_for_old_runs(height: int, cls: str) -> None:
    assert track_class_for_height(height) is TrackClass(cls)


def test_pixel_limit_is_the_top_of_the_highest_class_reached_without_a_gap() -> None:
    assert pixel_limit([]) == pixel_limit(["AUDIO"]) == pixel_limit(["AUDIO", "HD"]) == 0
    assert pixel_limit(["AUDIO", "SD"]) == SD_MAX_PIXELS
    assert pixel_limit([TrackClass.SD, TrackClass.HD, TrackClass.AUDIO]) == HD_MAX_PIXELS
    assert pixel_limit(["SD", "HD", "UHD"]) == UHD_MAX_PIXELS
    assert pixel_limit(["SD", "UHD"]) == SD_MAX_PIXELS  # a gap stops the ladder


def test_each_plan_cap_is_the_top_of_a_key_class() -> None:
    assert PLAN_MAX_PIXELS == {
        "basic": SD_MAX_PIXELS,
        "standard": HD_MAX_PIXELS,
        "premium": UHD_MAX_PIXELS,
    }
    # Every picture a plan may play has the class of a key the plan gets, and the other way
    # round (entitlements give basic AUDIO+SD, standard +HD, premium +UHD).
    assert track_class_for_picture(768, 576) is TrackClass.SD
    assert track_class_for_picture(4096, 2160) is TrackClass.UHD


def test_pixels_text() -> None:
    assert pixels_text(0) == "no video"
    assert pixels_text(SD_MAX_PIXELS) == "442,368 pixels (SD)"
    assert pixels_text(HD_MAX_PIXELS) == "2,073,600 pixels (HD)"
    assert pixels_text(UHD_MAX_PIXELS) == "8,847,360 pixels (UHD)"
