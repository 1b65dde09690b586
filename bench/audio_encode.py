"""Audio encode of a feature's 5.1 master: one ffmpeg per track side by side vs one at a time.

The source is ``--minutes`` of 5.1 PCM (distinct tones per channel, as a feature master
carries it); both sides call ``reelflow.media.audio.encode_audio`` on it and get stereo
and 5.1 AAC. The baseline runs the tracks one at a time (``max_parallel=1``: the cost of
the earlier single-process encode, whose outputs ffmpeg 5.1 encoded one after another);
the other side runs them side by side (the default: up to the machine's cores). Runs are
interleaved so machine noise hits both alike. Prints seconds per content minute and the
ratio; CPU seconds show that the work is the same, only spread.

    .venv/bin/python bench/audio_encode.py [--minutes 5] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from reelflow.config import get_settings
from reelflow.media.audio import encode_audio
from reelflow.media.probe import probe

TONES = (440, 554, 659, 110, 880, 988)  # FL FR FC LFE BL BR


def make_master(path: Path, ffmpeg: str, minutes: float) -> Path:
    expr = "|".join(f"0.2*sin({hz}*2*PI*t)" for hz in TONES)
    subprocess.run(
        [ffmpeg, "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi",
         "-i", f"aevalsrc={expr}:c=5.1:s=48000:d={minutes * 60:g}",
         "-c:a", "pcm_s16le", str(path)],
        check=True,
    )  # fmt: skip
    return path


def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--runs", type=int, default=3)
    opts = parser.parse_args()
    settings = get_settings()
    ffmpeg, ffprobe = settings.binary("ffmpeg"), settings.binary("ffprobe")
    with tempfile.TemporaryDirectory(prefix="reelflow-bench-audio-") as d:
        work = Path(d)
        master = make_master(work / "master.mkv", ffmpeg, opts.minutes)
        info = probe(master, ffprobe=ffprobe)
        sides = {"one at a time": 1, "side by side": None}
        wall: dict[str, list[float]] = {name: [] for name in sides}
        cpu: dict[str, list[float]] = {name: [] for name in sides}
        for run in range(opts.runs):
            for name, parallel in sides.items():
                out = work / f"{run}-{parallel}"
                cpu0, t0 = children_cpu_s(), time.perf_counter()
                tracks = encode_audio(
                    master, out, ffmpeg=ffmpeg, info=info, normalize=False, max_parallel=parallel
                )
                wall[name].append(time.perf_counter() - t0)
                cpu[name].append(children_cpu_s() - cpu0)
                assert sorted(t.channels for t in tracks) == [2, 6]
    print(f"{opts.minutes:g} min of 5.1 PCM -> AAC stereo + 5.1, {opts.runs} runs, "
          f"{os.cpu_count()} cores")  # fmt: skip
    print(f"{'':16} {'wall s/min':>10} {'cpu s/min':>10}")
    for name in sides:
        w = statistics.median(wall[name]) / opts.minutes
        c = statistics.median(cpu[name]) / opts.minutes
        print(f"{name:16} {w:10.2f} {c:10.2f}")
    base = statistics.median(wall["one at a time"])
    ratio = statistics.median(wall["side by side"]) / base
    print(f"side by side / one at a time (wall): {ratio:.2f}x")


if __name__ == "__main__":
    main()
