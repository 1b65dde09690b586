"""One decode feeding every rung (split) vs one ffmpeg process per rung.

Same input (a generated 1080p testsrc2 clip encoded like a mezzanine master: x264 CABAC,
high bitrate), same five rungs, same encoder settings
(x264 veryfast, capped VBR, closed 2 s GOPs). The baseline runs one process per rung both
sequentially and concurrently; the ratio is taken against the faster of the two.

    .venv/bin/python bench/ladder_encode.py [--seconds 20] [--source-preset faster]

The gain is the decodes saved, so it depends on the source: a master that is costly to
decode (CABAC, ~12 Mb/s here) gains most; an ``ultrafast`` source (CAVLC, no deblocking)
is nearly free to decode and gains little (about 1.1x measured).
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from reelflow.config import get_settings
from reelflow.domain.ladders import Rung, apple_fixed_ladder
from reelflow.media.chunks import Chunk
from reelflow.media.encode import encode_chunk

FPS = 25.0


def five_rungs() -> list[Rung]:
    by_kbps = {r.bitrate_kbps: r for r in apple_fixed_ladder(1920, 1080).rungs}
    return [by_kbps[k] for k in (145, 365, 2000, 4500, 7800)]


def make_source(path: Path, seconds: int, ffmpeg: str, preset: str) -> None:
    subprocess.run(
        [
            ffmpeg,
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"testsrc2=s=1920x1080:r={FPS:g}:d={seconds}",
            "-c:v",
            "libx264",
            "-preset",
            preset,
            "-crf",
            "12",
            "-pix_fmt",
            "yuv420p",
            str(path),
        ],
        check=True,
    )


def timed(fn: object) -> float:
    start = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--source-preset", default="faster", help="x264 preset of the source")
    args = parser.parse_args()
    ffmpeg = get_settings().binary("ffmpeg")
    rungs = five_rungs()
    with tempfile.TemporaryDirectory(prefix="bench-ladder-") as tmp:
        root = Path(tmp)
        src = root / "src.mp4"
        make_source(src, args.seconds, ffmpeg, args.source_preset)
        src_mbps = src.stat().st_size * 8 / args.seconds / 1e6
        chunk = Chunk(0, 0.0, float(args.seconds))

        def split_all() -> None:
            encode_chunk(src, chunk, rungs, root / "split", ffmpeg=ffmpeg, fps=FPS)

        def one(rung: Rung, tag: str) -> None:
            encode_chunk(src, chunk, [rung], root / f"{tag}-{rung.name}", ffmpeg=ffmpeg, fps=FPS)

        def sequential() -> None:
            for r in rungs:
                one(r, "seq")

        def concurrent() -> None:
            with ThreadPoolExecutor(max_workers=len(rungs)) as pool:
                list(pool.map(lambda r: one(r, "par"), rungs))

        t_split = timed(split_all)
        t_seq = timed(sequential)
        t_par = timed(concurrent)
    best = min(t_seq, t_par)
    print(
        f"input: {args.seconds} s 1920x1080 testsrc2 @ {FPS:g} fps, x264 {args.source_preset} "
        f"crf 12 ({src_mbps:.1f} Mb/s); rungs: "
        + ", ".join(f"{r.width}x{r.height}@{r.bitrate_kbps}k" for r in rungs)
    )
    print(f"baseline, one process per rung, sequential : {t_seq:7.2f} s")
    print(f"baseline, one process per rung, concurrent : {t_par:7.2f} s")
    print(f"candidate, one decode + split to all rungs  : {t_split:7.2f} s")
    print(f"speed-up vs faster baseline: {best / t_split:.2f}x  (aim >= 1.35x)")


if __name__ == "__main__":
    main()
