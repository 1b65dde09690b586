"""Which content-key class a video rendition belongs to: the one rule packaging (which key
encrypts it), the lifecycle (which keys to make) and entitlements (which keys a plan gets)
must agree on. Pure, so workflow code may import it too."""

from __future__ import annotations

from typing import Literal

VideoClass = Literal["sd", "hd", "uhd"]
SD_MAX_HEIGHT = 576
HD_MAX_HEIGHT = 1080


def video_class_for_height(height: int) -> VideoClass:
    """SD up to 576 lines, HD up to 1080, UHD above; ValueError for a non-positive height."""
    if height <= 0:
        raise ValueError(f"video height must be positive, got {height}")
    if height <= SD_MAX_HEIGHT:
        return "sd"
    if height <= HD_MAX_HEIGHT:
        return "hd"
    return "uhd"
