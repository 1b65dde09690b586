"""Entitlement decisions: pure functions of a title's availability, the viewer and the time.

No I/O here: routes load ``TitleAvailability`` from the catalog and call ``check_playback``;
concurrent-stream leases (Redis) use ``Entitlement.max_streams`` but live elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from reelflow.domain.plans import PLAN_MAX_PIXELS
from reelflow.domain.track_classes import TrackClass
from reelflow.playback_api.auth.auth import Viewer
from reelflow.playback_api.http.problems import Problem

AUDIO, SD, HD, UHD = TrackClass.AUDIO, TrackClass.SD, TrackClass.HD, TrackClass.UHD


@dataclass(frozen=True)
class PlanLimits:
    max_pixels: int  # the largest picture (width x height) the plan plays
    key_classes: frozenset[TrackClass]
    max_streams: int


PLAN_LIMITS: dict[str, PlanLimits] = {
    "basic": PlanLimits(PLAN_MAX_PIXELS["basic"], frozenset({AUDIO, SD}), 1),
    "standard": PlanLimits(PLAN_MAX_PIXELS["standard"], frozenset({AUDIO, SD, HD}), 2),
    "premium": PlanLimits(PLAN_MAX_PIXELS["premium"], frozenset({AUDIO, SD, HD, UHD}), 4),
}


@dataclass(frozen=True)
class TitleAvailability:
    state: str
    window_start: datetime | None = None
    window_end: datetime | None = None
    regions: list[str] = field(default_factory=list)  # empty: worldwide
    plans: list[str] = field(default_factory=list)  # empty: every plan


@dataclass(frozen=True)
class Entitlement:
    plan: str
    max_pixels: int
    key_classes: frozenset[TrackClass]
    max_streams: int


def _utc(moment: datetime) -> datetime:
    # SQLite hands datetimes back naive; the catalog stores UTC, so naive means UTC.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _in_window(availability: TitleAvailability, now: datetime) -> bool:
    current = _utc(now)
    start, end = availability.window_start, availability.window_end
    if start is not None and current < _utc(start):
        return False
    # The end is exclusive: at window_end the expiry timer unpublishes the title.
    return not (end is not None and current >= _utc(end))


def _region_allowed(availability: TitleAvailability, country: str) -> bool:
    if not availability.regions:
        return True
    return country.upper() in {r.upper() for r in availability.regions}


def is_visible(availability: TitleAvailability, country: str, now: datetime) -> bool:
    """Whether a title belongs in a viewer's catalog listing (plan does not hide titles)."""
    return (
        availability.state == "published"
        and _in_window(availability, now)
        and _region_allowed(availability, country)
    )


def _plan_allowed(availability: TitleAvailability, plan: str) -> bool:
    return plan in PLAN_LIMITS and (not availability.plans or plan in availability.plans)


def is_offered(availability: TitleAvailability, country: str, plan: str, now: datetime) -> bool:
    """Whether a title may be put in front of the viewer as something to play now: home rows
    and search results. ``is_visible`` plus the plan, so a recommendation or a search hit is
    never one that playback would refuse (``check_playback`` applies the same rules)."""
    return is_visible(availability, country, now) and _plan_allowed(availability, plan)


def check_playback(availability: TitleAvailability, viewer: Viewer, now: datetime) -> Entitlement:
    """The viewer's entitlement for this title, or a Problem naming the first refusal."""
    if availability.state != "published":
        raise Problem("not_published", "this title is not available for playback")
    if not _in_window(availability, now):
        raise Problem("outside_window", "this title is not available at this time")
    if not _region_allowed(availability, viewer.country):
        raise Problem("geo_blocked", f"this title is not available in {viewer.country}")
    if not _plan_allowed(availability, viewer.plan):
        raise Problem("plan_insufficient", f"the {viewer.plan} plan does not include this title")
    limits = PLAN_LIMITS[viewer.plan]
    return Entitlement(
        plan=viewer.plan,
        max_pixels=limits.max_pixels,
        key_classes=limits.key_classes,
        max_streams=limits.max_streams,
    )
