"""The slate is a dark frame with light text at the canvas size."""

from __future__ import annotations

from reelflow.config import get_settings
from reelflow.live.slate import slate_frame
from reelflow.live.switcher import Canvas


def test_the_slate_fits_the_canvas_and_carries_text() -> None:
    canvas = Canvas(320, 180, 30)
    frame = slate_frame(get_settings().binary("ffmpeg"), canvas)
    assert len(frame) == canvas.frame_bytes
    luma = frame[: canvas.width * canvas.height]
    assert sum(luma) / len(luma) < 60  # dark
    assert max(luma) > 180  # the words are drawn (white on dark)
