"""What each plan may play and which picture heights every title must offer: the plans'
caps, weak devices, tiny sources. The one rule the ladder (which rungs to make) and
entitlements (which rungs a plan may play) share. Pure, so media and workflow code may
import it without the API.
"""

from __future__ import annotations

from reelflow.domain.track_classes import HD_MAX_PIXELS, SD_MAX_PIXELS, UHD_MAX_PIXELS

# The largest picture each subscription plan may play, in pixels (width x height), so a
# wide film's rungs count as what they are: each plan's cap is the top of its highest key
# class (domain/track_classes.py), and entitlements give it exactly those classes' keys.
PLAN_MAX_PIXELS: dict[str, int] = {
    "basic": SD_MAX_PIXELS,
    "standard": HD_MAX_PIXELS,
    "premium": UHD_MAX_PIXELS,
}
# The heights the ladder offers a rung at or below, one per plan (coverage below). A plan's
# cap is PLAN_MAX_PIXELS: a 16:9 basic viewer's tallest rung is 432p (768x432), which the
# weak-device rung (at or below 360p) always leaves room for.
PLAN_MAX_HEIGHT: dict[str, int] = {"basic": 540, "standard": 1080, "premium": 2160}
# Phones on old chipsets and weak smart TVs decode nothing taller than this.
WEAK_DEVICE_MAX_HEIGHT = 360
# A source this short (or shorter) is already a small-screen picture: one rung may do.
TINY_SOURCE_MAX_HEIGHT = 240
# A ladder a player can adapt on has at least this many rungs (unless the source is tiny).
MIN_RUNGS = 3


def is_tiny(src_height: int) -> bool:
    return src_height <= TINY_SOURCE_MAX_HEIGHT


def coverage_ceilings(src_height: int) -> list[int]:
    """Heights that each need a rung at or below them, tallest first; ceilings at or above
    the source are met by any rung and left out."""
    wanted = {*PLAN_MAX_HEIGHT.values(), WEAK_DEVICE_MAX_HEIGHT}
    return sorted((h for h in wanted if h < src_height), reverse=True)


def coverage_problems(heights: list[int], src_height: int) -> list[str]:
    """Why a set of rung heights fails the coverage rule (empty: it passes)."""
    if not heights:
        return ["no rungs"]
    problems = [
        f"no rung at or below {ceiling}p"
        for ceiling in coverage_ceilings(src_height)
        if min(heights) > ceiling
    ]
    if not is_tiny(src_height) and len(heights) < MIN_RUNGS:
        problems.append(f"{len(heights)} rung(s), need at least {MIN_RUNGS}")
    return problems
