"""Which content-key class a track belongs to: the one rule packaging (which key encrypts
it), the lifecycle (which keys to make) and entitlements (which keys a plan gets) must
agree on. One spelling everywhere: the ``TrackClass`` values, which are also the Shaka
Packager DRM labels and what the catalog stores. Pure, so workflow code may import it too.
"""

from __future__ import annotations

import enum

SD_MAX_HEIGHT = 576
HD_MAX_HEIGHT = 1080


class TrackClass(enum.StrEnum):
    """Track classes that get their own key."""

    AUDIO = "AUDIO"
    SD = "SD"
    HD = "HD"
    UHD = "UHD"


def track_class_for_height(height: int) -> TrackClass:
    """SD up to 576 lines, HD up to 1080, UHD above; ValueError for a non-positive height."""
    if height <= 0:
        raise ValueError(f"video height must be positive, got {height}")
    if height <= SD_MAX_HEIGHT:
        return TrackClass.SD
    if height <= HD_MAX_HEIGHT:
        return TrackClass.HD
    return TrackClass.UHD
