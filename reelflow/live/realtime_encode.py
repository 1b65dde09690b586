"""The real-time encode: the switcher's raw canvas to every rung of the channel's ladder, in
one ffmpeg (one scale per rung from a single decode-free raw input), as an MPEG-TS that the
live packager reads from a FIFO.

GOPs are closed and one second long on every rung (``-g fps``, no scene-cut keyframes), so
segments and low-latency chunks align across rungs and a player switches anywhere. x264's
``zerolatency`` tune drops the lookahead and B-frame delay that would otherwise add a
second or more before the first byte of each frame reaches the packager.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from reelflow.live.switcher import Canvas


@dataclass(frozen=True)
class LiveRung:
    width: int
    height: int
    video_kbps: int

    @property
    def name(self) -> str:
        return f"v{self.height}"


AUDIO_KBPS = 128


def encoder_args(
    canvas: Canvas,
    rungs: Sequence[LiveRung],
    *,
    audio_fd: int,
    outputs: Sequence[str],
    preset: str = "veryfast",
) -> list[str]:
    """Raw video on stdin and s16le sound on ``audio_fd`` to the same MPEG-TS at every one
    of ``outputs`` (rung i is video stream i, sound is the last stream)."""
    if not rungs:
        raise ValueError("a live channel needs at least one rung")
    n = len(rungs)
    scales = ";".join(
        f"[s{i}]scale={r.width}:{r.height},setsar=1[v{i}]" for i, r in enumerate(rungs)
    )
    graph = f"[0:v]split={n}" + "".join(f"[s{i}]" for i in range(n)) + ";" + scales
    args = [
        "ffmpeg", "-hide_banner", "-nostdin", "-y", "-loglevel", "warning",
        # Raw inputs need no probing; probing one pipe while the other fills would deadlock
        # (ffmpeg opens its inputs one after the other).
        "-probesize", "32", "-analyzeduration", "0",
        "-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{canvas.width}x{canvas.height}",
        "-r", str(canvas.fps), "-thread_queue_size", "64", "-i", "pipe:0",
        "-probesize", "32", "-analyzeduration", "0",
        "-f", "s16le", "-ar", str(canvas.sample_rate), "-ac", str(canvas.channels),
        "-thread_queue_size", "64", "-i", f"pipe:{audio_fd}",
        "-filter_complex", graph,
    ]  # fmt: skip
    for i, rung in enumerate(rungs):
        args += ["-map", f"[v{i}]", f"-b:v:{i}", f"{rung.video_kbps}k",
                 f"-maxrate:v:{i}", f"{rung.video_kbps * 3 // 2}k",
                 f"-bufsize:v:{i}", f"{rung.video_kbps}k"]  # fmt: skip
    args += [
        "-map", "1:a",
        "-c:v", "libx264", "-preset", preset, "-tune", "zerolatency", "-profile:v", "high",
        "-g", str(canvas.fps), "-keyint_min", str(canvas.fps), "-sc_threshold", "0",
        "-flags", "+cgop", "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-b:a", f"{AUDIO_KBPS}k",
        "-muxdelay", "0", "-muxpreload", "0", "-flush_packets", "1", "-f", "tee",
        "|".join(f"[f=mpegts]{o}" for o in outputs),
    ]  # fmt: skip
    return args
