"""Per-title ladder vs the Apple fixed ladder, on sources of different complexity.

For each generated 720p source: build the per-title ladder (analysis on sample windows),
then encode the same sample windows with both ladders for real (one decode, all rungs,
capped VBR as in production) and score every rung with VMAF (PSNR without libvmaf)
against the sample at source size. Printed per source: top-rung and whole-ladder kb/s and
top-rung quality of both, and the saving.

"Equal or better quality" is judged on the top rung against min(Apple top, saturation):
above the saturation score (VMAF 95) extra bits are not visible, which is what lets the
per-title ladder stop early on easy content.

    .venv/bin/python bench/per_title.py [--seconds 6]
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from reelflow.config import get_settings
from reelflow.media.chunks import Chunk
from reelflow.media.encode import encode_chunk
from reelflow.media.ladder import (
    Ladder,
    LadderOptions,
    analyse_per_title,
    apple_fixed_ladder,
    extract_sample,
    sample_windows,
)
from reelflow.media.probe import probe
from reelflow.media.quality import measure_quality

SIZE = "1280x720"
SOURCES = {
    "low (testsrc card)": f"testsrc=s={SIZE}:r=25",
    "medium (mandelbrot zoom)": f"mandelbrot=s={SIZE}:r=25",
    "high (moving noise)": f"testsrc2=s={SIZE}:r=25,noise=alls=30:allf=t+u",
}
OPTIONS = LadderOptions(
    sample_count=2, sample_s=2.0, analysis_resolutions=3, crf_values=(20, 28, 36), vmaf_subsample=2
)


@dataclass(frozen=True)
class Evaluated:
    top_kbps: int
    total_kbps: int
    top_quality: float
    top_actual_kbps: float
    total_actual_kbps: float


def evaluate(
    ladder: Ladder,
    sample: Path,
    work: Path,
    *,
    ffmpeg: str,
    vmaf: str | None,
    width: int,
    height: int,
    seconds: float,
) -> Evaluated:
    out = encode_chunk(sample, Chunk(0, 0.0, seconds), ladder, work, ffmpeg=ffmpeg, fps=25.0)
    top = ladder.top
    score = measure_quality(
        out[top.name],
        sample,
        ffmpeg_vmaf=vmaf,
        ffmpeg=ffmpeg,
        width=width,
        height=height,
        subsample=OPTIONS.vmaf_subsample,
    )
    actual = {name: p.stat().st_size * 8 / 1000 / seconds for name, p in out.items()}
    return Evaluated(
        top.bitrate_kbps, ladder.total_kbps, score.value, actual[top.name], sum(actual.values())
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=6)
    args = parser.parse_args()
    settings = get_settings()
    ffmpeg, ffprobe, vmaf = (
        settings.binary("ffmpeg"),
        settings.binary("ffprobe"),
        settings.vmaf_ffmpeg(),
    )
    metric = "vmaf" if vmaf else "psnr"
    saturation = OPTIONS.saturation[metric]
    started = time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-pertitle-") as tmp:
        root = Path(tmp)
        for i, (label, lavfi) in enumerate(SOURCES.items()):
            src = root / f"src{i}.mp4"
            subprocess.run(
                [
                    ffmpeg,
                    "-v",
                    "error",
                    "-y",
                    "-f",
                    "lavfi",
                    "-i",
                    lavfi,
                    "-t",
                    str(args.seconds),
                    "-c:v",
                    "libx264",
                    "-preset",
                    "veryfast",
                    "-crf",
                    "10",
                    "-pix_fmt",
                    "yuv420p",
                    str(src),
                ],
                check=True,
            )
            info = probe(src, ffprobe=ffprobe)
            assert info.video is not None
            w, h = info.video.width, info.video.height
            per_title = analyse_per_title(
                src, info, ffmpeg=ffmpeg, ffmpeg_vmaf=vmaf, options=OPTIONS
            )
            apple = apple_fixed_ladder(w, h)
            windows = sample_windows(
                info.duration_s,
                count=OPTIONS.sample_count,
                length_s=OPTIONS.sample_s,
                exclude=OPTIONS.exclude,
            )
            sample = root / f"sample{i}.mkv"
            extract_sample(src, windows, sample, ffmpeg=ffmpeg)
            seconds = sum(length for _, length in windows)
            kw = {"ffmpeg": ffmpeg, "vmaf": vmaf, "width": w, "height": h, "seconds": seconds}
            ev_apple = evaluate(apple, sample, root / f"apple{i}", **kw)  # type: ignore[arg-type]
            ev_pt = evaluate(per_title, sample, root / f"pt{i}", **kw)  # type: ignore[arg-type]
            rows.append((label, apple, per_title, ev_apple, ev_pt))

    print(
        f"sources: {SIZE}, {args.seconds} s each; metric: {metric}; "
        f"saturation {saturation:g}; analysis {OPTIONS.sample_count}x{OPTIONS.sample_s:g} s "
        f"windows; runtime {time.perf_counter() - started:.0f} s"
    )
    for label, apple, per_title, a, p in rows:
        target = min(a.top_quality, saturation)
        equal = p.top_quality >= target - 1.0
        # Savings on the bits actually produced (capped-CRF rungs rarely reach their cap).
        top_saving = 1 - p.top_actual_kbps / a.top_actual_kbps
        total_saving = 1 - p.total_actual_kbps / a.total_actual_kbps
        print(f"\n{label}")
        print(
            f"  apple fixed : {len(apple.rungs)} rungs, total "
            f"{a.total_kbps:6d} kb/s (actual {a.total_actual_kbps:6.0f}), "
            f"top {a.top_kbps:5d} kb/s (actual {a.top_actual_kbps:7.0f}) "
            f"{metric} {a.top_quality:6.2f}"
        )
        print(
            f"  per-title   : {len(per_title.rungs)} rungs, total {p.total_kbps:6d} kb/s "
            f"(actual {p.total_actual_kbps:6.0f}), "
            f"top {p.top_kbps:5d} kb/s (actual {p.top_actual_kbps:7.0f}) "
            f"{metric} {p.top_quality:6.2f}"
            f"  [{', '.join(f'{r.height}p@{r.bitrate_kbps}' for r in per_title.rungs)}]"
        )
        verdict = "equal or better" if equal else f"QUALITY LOSS ({p.top_quality - target:+.2f})"
        print(
            f"  top-rung quality vs target {target:.2f}: {verdict}; "
            f"actual-bits saving: top rung {top_saving:+.0%}, whole ladder {total_saving:+.0%}"
        )


if __name__ == "__main__":
    main()
