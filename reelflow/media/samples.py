"""Generated test titles from ffmpeg's lavfi sources: the demo, tests and benchmarks use them."""

from __future__ import annotations

import subprocess
from pathlib import Path


def make_test_title(
    path: Path,
    *,
    ffmpeg: str,
    seconds: float,
    size: str = "1280x720",
    rate: int = 24,
    tone: str | None = "frequency=440",
    audio_filter: str | None = None,
    audio_bitrate: str = "128k",
    video_args: tuple[str, ...] = ("-preset", "veryfast", "-crf", "18"),
) -> Path:
    """testsrc2 (moving picture) plus a sine ``tone`` (None: no audio), H.264/AAC in MP4.

    Written under a temporary name and renamed, so a half-written file never passes for a
    finished one.
    """
    args = [
        ffmpeg, "-hide_banner", "-loglevel", "error", "-y",
        "-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate}:duration={seconds}",
    ]  # fmt: skip
    if tone is not None:
        args += ["-f", "lavfi", "-i", f"sine={tone}:sample_rate=48000:duration={seconds}"]
        if audio_filter:
            args += ["-af", audio_filter]
        args += ["-c:a", "aac", "-b:a", audio_bitrate, "-ar", "48000"]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    args += ["-c:v", "libx264", *video_args, "-pix_fmt", "yuv420p", str(tmp)]
    subprocess.run(args, check=True)
    tmp.replace(path)
    return path
