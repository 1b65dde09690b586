"""Does the live pipeline keep real time on this host, and with which rungs?

For each candidate ladder, one channel runs for --seconds while an ffmpeg encoder pushes a
test picture with tone over SRT (as a studio would), then the pipeline's own clock is read:
the speed factor (media time produced over wall time; below 1.0 the channel falls behind)
and the ticks that came late by more than a frame. The baseline beside each ladder is the
same pipeline at its smallest rung alone, so the ratio shows what each added rung costs.
The pushing encoder shares the cores: a dedicated ingest host does better.

    .venv/bin/python bench/live_realtime.py [--seconds 20] [--canvas 854x480]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from reelflow.config import get_settings  # noqa: E402
from reelflow.live.contribution import SrtListen  # noqa: E402
from reelflow.live.live_package import LiveWindow  # noqa: E402
from reelflow.live.pipeline import LivePipeline, PipelineSpec  # noqa: E402
from reelflow.live.realtime_encode import LiveRung  # noqa: E402
from reelflow.live.switcher import Canvas  # noqa: E402
from tests.services import free_udp_port  # noqa: E402

KEY = "bench-stream-key-0123"
LADDERS: dict[str, tuple[LiveRung, ...]] = {
    "240p": (LiveRung(426, 240, 400),),
    "240p+360p": (LiveRung(426, 240, 400), LiveRung(640, 360, 800)),
    "240p+360p+480p": (LiveRung(426, 240, 400), LiveRung(640, 360, 800), LiveRung(854, 480, 1400)),
}


def _slate(ffmpeg: str, canvas: Canvas) -> bytes:
    return subprocess.run(
        [ffmpeg, "-v", "error", "-f", "lavfi", "-i",
         f"color=c=navy:size={canvas.width}x{canvas.height}", "-frames:v", "1",
         "-f", "rawvideo", "-pix_fmt", "yuv420p", "pipe:1"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip


def run_ladder(name: str, canvas: Canvas, seconds: float, workdir: Path) -> dict[str, float]:
    settings = get_settings()
    ffmpeg = settings.binary("ffmpeg")
    port = free_udp_port()
    spec = PipelineSpec(
        canvas=canvas, rungs=LADDERS[name], listen=SrtListen("127.0.0.1", port),
        out=workdir / name, packager=settings.binary("packager"),
        utc_timing_url="http://127.0.0.1:9/time", slate_frame=_slate(ffmpeg, canvas),
        window=LiveWindow(dvr_s=120), reconnect_window_s=2.0,
    )  # fmt: skip
    pipeline = LivePipeline(spec, KEY)
    runner = threading.Thread(target=pipeline.run, daemon=True)
    runner.start()
    deadline = time.monotonic() + 30
    while not pipeline.status.listening and time.monotonic() < deadline:
        time.sleep(0.1)
    url = f"srt://127.0.0.1:{port}?mode=caller&passphrase={KEY}&pbkeylen=16"
    subprocess.run(
        [ffmpeg, "-v", "error", "-re", "-f", "lavfi", "-i",
         f"testsrc2=size={canvas.width}x{canvas.height}:rate={canvas.fps}",
         "-f", "lavfi", "-i", "sine=frequency=440", "-t", str(seconds),
         "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-c:a", "aac",
         "-f", "mpegts", url],
        capture_output=True, timeout=seconds + 60,
    )  # fmt: skip
    status = pipeline.status
    speed, late, frames = status.speed, status.late_ticks, dict(status.frames)
    pipeline.stop()
    runner.join(30)
    return {"speed": speed, "late": late, "live": frames.get("live", 0)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--canvas", default="854x480")
    args = parser.parse_args()
    w, h = (int(x) for x in args.canvas.split("x"))
    canvas = Canvas(w, h, 30)
    print(f"load average before: {os.getloadavg()[0]:.2f}; {args.seconds:g} s per ladder")
    with tempfile.TemporaryDirectory(prefix="reelflow-bench-live-") as d:
        base = run_ladder("240p", canvas, args.seconds, Path(d))
        for name in LADDERS:
            got = base if name == "240p" else run_ladder(name, canvas, args.seconds, Path(d))
            print(
                f"{name:<16} speed {got['speed']:.3f}  late ticks {got['late']:4.0f}  "
                f"live frames {got['live']:5.0f}  speed vs 240p alone "
                f"{got['speed'] / base['speed']:.3f}x  (load {os.getloadavg()[0]:.2f})"
            )


if __name__ == "__main__":
    main()
