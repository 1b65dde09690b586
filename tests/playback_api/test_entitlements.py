"""Entitlement decisions: published, window, geo, plan; plan limits and key classes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from reelflow.domain.track_classes import TrackClass, pixel_limit, track_class_for_picture
from reelflow.playback_api.auth.auth import Viewer
from reelflow.playback_api.delivery.entitlements import (
    TitleAvailability,
    check_playback,
    is_visible,
)
from reelflow.playback_api.http.problems import Problem

NOW = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)


def viewer(plan: str = "premium", country: str = "US") -> Viewer:
    return Viewer(sub="a", plan=plan, country=country, device=None, admin=False, exp=0)  # type: ignore[arg-type]


def refusal(availability: TitleAvailability, who: Viewer, now: datetime = NOW) -> str:
    with pytest.raises(Problem) as info:
        check_playback(availability, who, now)
    return info.value.slug


@pytest.mark.parametrize(
    ("plan", "pixels", "classes", "streams"),
    [
        ("basic", 768 * 576, {"AUDIO", "SD"}, 1),
        ("standard", 1920 * 1080, {"AUDIO", "SD", "HD"}, 2),
        ("premium", 4096 * 2160, {"AUDIO", "SD", "HD", "UHD"}, 4),
    ],
)
def test_plan_table(plan: str, pixels: int, classes: set[str], streams: int) -> None:
    ent = check_playback(TitleAvailability(state="published"), viewer(plan), NOW)
    assert (ent.max_pixels, set(ent.key_classes), ent.max_streams) == (pixels, classes, streams)
    # A plan's picture cap is the top of its key classes: what it may see it may decrypt.
    assert ent.max_pixels == pixel_limit(ent.key_classes)


def test_basic_plan_never_gets_hd_key_class() -> None:
    ent = check_playback(TitleAvailability(state="published"), viewer("basic"), NOW)
    # license_auth.py issues a key only when its class is in the session's key_classes.
    assert TrackClass.HD not in ent.key_classes
    assert TrackClass.UHD not in ent.key_classes
    assert track_class_for_picture(768, 432) in ent.key_classes
    # A 2.39:1 film's 1280x536 rung is HD by its pixels, so not the basic plan's.
    assert track_class_for_picture(1280, 536) not in ent.key_classes
    assert ent.max_pixels < 1280 * 536


@pytest.mark.parametrize("state", ["draft", "ingesting", "qc_failed", "expired", "taken_down"])
def test_not_published(state: str) -> None:
    assert refusal(TitleAvailability(state=state), viewer()) == "not_published"


def test_window_bounds_start_inclusive_end_exclusive() -> None:
    window = TitleAvailability(
        state="published", window_start=NOW, window_end=NOW + timedelta(days=1)
    )
    assert check_playback(window, viewer(), NOW).plan == "premium"
    assert refusal(window, viewer(), NOW - timedelta(seconds=1)) == "outside_window"
    assert refusal(window, viewer(), NOW + timedelta(days=1)) == "outside_window"
    open_ended = TitleAvailability(state="published", window_start=NOW - timedelta(days=9))
    assert check_playback(open_ended, viewer(), NOW + timedelta(days=3650)).max_streams == 4


def test_naive_datetimes_are_utc() -> None:
    # SQLite returns naive datetimes; they must compare as UTC, not raise.
    naive = TitleAvailability(
        state="published",
        window_start=datetime(2030, 6, 1, 12, 0),
        window_end=datetime(2030, 6, 1, 13, 0),
    )
    assert check_playback(naive, viewer(), NOW).plan == "premium"
    assert refusal(naive, viewer(), NOW + timedelta(hours=1)) == "outside_window"
    shifted = datetime(2030, 6, 1, 13, 30, tzinfo=timezone_plus(2))  # 11:30 UTC
    assert refusal(naive, viewer(), shifted) == "outside_window"


def timezone_plus(hours: int) -> timezone:
    return timezone(timedelta(hours=hours))


def test_geo_blocking_is_case_insensitive() -> None:
    regional = TitleAvailability(state="published", regions=["us", "CA"])
    assert check_playback(regional, viewer(country="CA"), NOW).plan == "premium"
    assert check_playback(regional, viewer(country="US"), NOW).plan == "premium"
    assert refusal(regional, viewer(country="FR")) == "geo_blocked"
    worldwide = TitleAvailability(state="published", regions=[])
    assert check_playback(worldwide, viewer(country="FR"), NOW).plan == "premium"


def test_plan_restricted_title() -> None:
    premium_only = TitleAvailability(state="published", plans=["premium"])
    assert refusal(premium_only, viewer("basic")) == "plan_insufficient"
    assert refusal(premium_only, viewer("standard")) == "plan_insufficient"
    assert check_playback(premium_only, viewer("premium"), NOW).max_pixels == 4096 * 2160


def test_unknown_plan_is_refused_not_crashed() -> None:
    assert refusal(TitleAvailability(state="published"), viewer("gold")) == "plan_insufficient"


def test_refusal_order_is_published_window_geo_plan() -> None:
    everything_wrong = TitleAvailability(
        state="draft",
        window_end=NOW - timedelta(days=1),
        regions=["JP"],
        plans=["premium"],
    )
    assert refusal(everything_wrong, viewer("basic")) == "not_published"
    published = TitleAvailability(
        state="published", window_end=NOW - timedelta(days=1), regions=["JP"], plans=["premium"]
    )
    assert refusal(published, viewer("basic")) == "outside_window"
    in_window = TitleAvailability(state="published", regions=["JP"], plans=["premium"])
    assert refusal(in_window, viewer("basic")) == "geo_blocked"


def test_is_visible_ignores_plan_but_not_geo_or_window() -> None:
    title = TitleAvailability(
        state="published", window_end=NOW + timedelta(hours=1), regions=["US"], plans=["premium"]
    )
    assert is_visible(title, "us", NOW)
    assert not is_visible(title, "FR", NOW)
    assert not is_visible(title, "US", NOW + timedelta(hours=2))
    assert not is_visible(TitleAvailability(state="draft"), "US", NOW)
