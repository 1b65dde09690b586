"""Which content-key class a track belongs to: the one rule packaging (which key encrypts
it), the lifecycle (which keys to make), entitlements (which keys and which pictures a plan
gets) and the CPIX export must agree on. One spelling everywhere: the ``TrackClass`` values,
which are also the Shaka Packager DRM labels and what the catalog stores. Pure, so workflow
code may import it too.

A video picture's class follows its pixel count (width x height), not its height alone:
a 2.39:1 film's 1280x536 rung has 686,080 pixels, HD by any studio's rules, though it is
only 536 lines tall. The thresholds (docs/drm.md "Key classes"):

* SD: at most 768 x 576 = 442,368 pixels (PAL's square-pixel frame, the usual SD limit in
  content-security rules: 720x576, 854x480 and 768x432 are SD; 960x540 is not);
* HD: at most 1920 x 1080 = 2,073,600 pixels (a 2048x858 scope or 1998x1080 flat DCI
  frame counts as UHD: the stricter class when in doubt);
* UHD: above HD. The largest picture any plan plays is DCI 4K, 4096 x 2160.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

SD_MAX_PIXELS = 768 * 576
HD_MAX_PIXELS = 1920 * 1080
UHD_MAX_PIXELS = 4096 * 2160

# The height-only rule of packages made before issue 25; only the replay of a title
# workflow that started before it uses it (workflows/publishing.py).
SD_MAX_HEIGHT = 576
HD_MAX_HEIGHT = 1080


class TrackClass(enum.StrEnum):
    """Track classes that get their own key."""

    AUDIO = "AUDIO"
    SD = "SD"
    HD = "HD"
    UHD = "UHD"


# Video classes from the lowest up, each with the largest picture (in pixels) it covers.
VIDEO_CLASSES: tuple[tuple[TrackClass, int], ...] = (
    (TrackClass.SD, SD_MAX_PIXELS),
    (TrackClass.HD, HD_MAX_PIXELS),
    (TrackClass.UHD, UHD_MAX_PIXELS),
)


def picture_pixels(width: int, height: int) -> int:
    """``width * height``; ValueError for a non-positive side."""
    if width <= 0 or height <= 0:
        raise ValueError(f"video size must be positive, got {width}x{height}")
    return width * height


def track_class_for_picture(width: int, height: int) -> TrackClass:
    """SD up to 442,368 pixels, HD up to 2,073,600, UHD above; ValueError for nonsense."""
    pixels = picture_pixels(width, height)
    if pixels <= SD_MAX_PIXELS:
        return TrackClass.SD
    if pixels <= HD_MAX_PIXELS:
        return TrackClass.HD
    return TrackClass.UHD


def pixel_limit(classes: Iterable[TrackClass | str]) -> int:
    """The largest picture ``classes`` may show: the top of the highest video class reached
    from SD up without a gap; 0 without SD (no video at all)."""
    have = set(classes)
    limit = 0
    for tc, top in VIDEO_CLASSES:
        if tc not in have:
            break
        limit = top
    return limit


def pixels_text(limit: int) -> str:
    """A pixel cap for people: ``442,368 pixels (SD)``; ``no video`` for 0."""
    if limit <= 0:
        return "no video"
    top = next((tc for tc, cap in VIDEO_CLASSES if limit <= cap), TrackClass.UHD)
    return f"{limit:,} pixels ({top.value})"


def track_class_for_height(height: int) -> TrackClass:
    """The rule before issue 25 (SD up to 576 lines, HD up to 1080, UHD above), kept only so
    a title workflow that started under it makes the keys its packaging expects."""
    if height <= 0:
        raise ValueError(f"video height must be positive, got {height}")
    if height <= SD_MAX_HEIGHT:
        return TrackClass.SD
    if height <= HD_MAX_HEIGHT:
        return TrackClass.HD
    return TrackClass.UHD
