"""The one track-class rule: which key class a video height gets."""

from __future__ import annotations

import pytest

from reelflow.domain.track_classes import TrackClass, track_class_for_height


@pytest.mark.parametrize(
    ("height", "cls"),
    [
        (144, "SD"),
        (240, "SD"),
        (480, "SD"),
        (540, "SD"),
        (576, "SD"),
        (577, "HD"),
        (720, "HD"),
        (1080, "HD"),
        (1081, "UHD"),
        (1440, "UHD"),
        (2160, "UHD"),
    ],
)
def test_track_class_for_height(height: int, cls: str) -> None:
    assert track_class_for_height(height) is TrackClass(cls)


@pytest.mark.parametrize("height", [0, -1])
def test_track_class_rejects_nonsense_height(height: int) -> None:
    with pytest.raises(ValueError, match="must be positive"):
        track_class_for_height(height)
