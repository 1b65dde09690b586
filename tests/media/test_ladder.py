"""The per-title analysis options and the sizes it measures at."""

from __future__ import annotations

import pytest

from reelflow.media.ladder import LadderError, LadderOptions, analysis_resolutions

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


def test_bad_options_raise() -> None:
    with pytest.raises(LadderError):
        LadderOptions(min_step=0.9)
    with pytest.raises(LadderError):
        LadderOptions(min_kbps=5000, max_kbps=1000)
