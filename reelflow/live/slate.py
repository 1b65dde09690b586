"""The slate a channel shows while its contribution is away: a dark still saying "We'll be
right back", rendered once per channel at its canvas size as one raw frame."""

from __future__ import annotations

import subprocess

from reelflow.live.switcher import Canvas

# A typographic apostrophe: the plain one would need escaping through two parsers.
SLATE_TEXT = "We\u2019ll be right back"
SLATE_COLOUR = "0x101828"


def slate_frame(ffmpeg: str, canvas: Canvas) -> bytes:
    """One yuv420p frame of the slate. Without a font for drawtext (fontconfig finds
    DejaVu on Debian), the plain colour still keeps the timeline going."""
    size = f"{canvas.width}x{canvas.height}"
    fontsize = max(12, canvas.height // 10)
    drawn = (
        f"drawtext=text='{SLATE_TEXT}':fontcolor=white:fontsize={fontsize}"
        ":x=(w-text_w)/2:y=(h-text_h)/2"
    )
    for vf in (drawn, "null"):
        run = subprocess.run(
            [ffmpeg, "-v", "error", "-f", "lavfi", "-i", f"color=c={SLATE_COLOUR}:size={size}",
             "-vf", vf, "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "yuv420p", "pipe:1"],
            capture_output=True, timeout=60,
        )  # fmt: skip
        if run.returncode == 0 and len(run.stdout) == canvas.frame_bytes:
            return run.stdout
    raise RuntimeError(f"ffmpeg could not render a {size} slate")
