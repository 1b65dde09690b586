"""The title bench/qoe.py plays: 60 s from a 1080p source with its real per-title ladder.

The master is 1080p24 from three lavfi sources in turn (a Mandelbrot zoom, a test card with
film grain, a plain test card: detail, noise and easy motion, so the analysis sees a mixed
title), x264 CRF 10, with a stereo tone. Its ladder comes from the production analysis
(``analyse_per_title`` with the production options, VMAF when an ffmpeg with libvmaf is
installed, else PSNR) and its rungs from the production encode (``encode_chunk``: one decode,
capped CRF, closed 2 s GOPs, preset veryfast); the package is the real Shaka Packager's, at
the segment duration asked for, sealed into the catalog as the lifecycle's publish does
(tests/fixtures/published.py). Only Temporal is left out: the bench measures the player.

The encoded rungs are kept in the bench cache (keyed by everything that shapes them), so
runs after the first skip the ~3 minutes of analysis and encode.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from sqlalchemy.engine import Engine

import tests.fixtures.published as published
from reelflow.config import Settings
from reelflow.media.chunks import Chunk
from reelflow.media.encode import encode_chunk
from reelflow.media.ladder import LadderOptions
from reelflow.media.ladder_analysis import analyse_per_title
from reelflow.media.probe import probe
from reelflow.media.quality import vmaf_ffmpeg
from reelflow.packaging.streams import VideoRendition
from reelflow.storage import LocalStore

SECONDS = 60
FPS = 24
SECTIONS = (
    "mandelbrot=s=1920x1080:r=24",
    "testsrc2=s=1920x1080:r=24,noise=alls=12:allf=t+u",
    "testsrc2=s=1920x1080:r=24",
)
CACHE = Path.home() / ".cache" / "reelflow-bench" / "qoe-title"


@dataclass(frozen=True)
class EncodedRung:
    file: str
    width: int
    height: int
    kbps: float  # as encoded (file size over duration)


def _cache_dir(metric: str) -> Path:
    recipe = json.dumps([SECONDS, FPS, SECTIONS, asdict(LadderOptions()), metric, 1])
    return CACHE / hashlib.sha256(recipe.encode()).hexdigest()[:16]


def make_master(path: Path, ffmpeg: str) -> Path:
    part = SECONDS / len(SECTIONS)
    graph = ";".join(
        f"{src},trim=duration={part:g},setpts=PTS-STARTPTS,format=yuv420p[v{i}]"
        for i, src in enumerate(SECTIONS)
    )
    graph += ";" + "".join(f"[v{i}]" for i in range(len(SECTIONS)))
    graph += f"concat=n={len(SECTIONS)}:v=1:a=0[v]"
    subprocess.run(
        [ffmpeg, "-v", "error", "-y", "-filter_complex", graph,
         "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={SECONDS}",
         "-map", "[v]", "-map", "0:a", "-c:v", "libx264", "-preset", "ultrafast", "-crf", "10",
         "-g", "48", "-c:a", "aac", "-ac", "2", "-t", str(SECONDS), str(path)],
        check=True,
    )  # fmt: skip
    return path


def encoded_rungs(settings: Settings, work: Path) -> tuple[list[VideoRendition], str]:
    """The title's per-title rungs (from the cache when there), and a line saying how."""
    ffmpeg, vmaf = settings.binary("ffmpeg"), vmaf_ffmpeg(settings)
    metric = "vmaf" if vmaf else "psnr"
    cache = _cache_dir(metric)
    index = cache / "rungs.json"
    if not index.exists():
        t0 = time.perf_counter()
        master = make_master(work / "master.mp4", ffmpeg)
        info = probe(master, ffprobe=settings.binary("ffprobe"))
        ladder = analyse_per_title(master, info, ffmpeg=ffmpeg, ffmpeg_vmaf=vmaf, work_dir=work)
        analysed = time.perf_counter() - t0
        outs = encode_chunk(master, Chunk(0, 0.0, SECONDS), ladder, work / "enc", ffmpeg=ffmpeg,
                            fps=FPS)  # fmt: skip
        tmp = cache.with_suffix(".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        rungs = []
        for r in ladder.rungs:
            shutil.copy(outs[r.name], tmp / f"{r.name}.mp4")
            kbps = outs[r.name].stat().st_size * 8 / 1000 / SECONDS
            rungs.append(EncodedRung(f"{r.name}.mp4", r.width, r.height, kbps))
        (tmp / "rungs.json").write_text(json.dumps(
            {"metric": metric, "analysis_s": analysed, "encode_s": time.perf_counter() - t0
             - analysed, "rungs": [asdict(r) for r in rungs]}))  # fmt: skip
        shutil.rmtree(cache, ignore_errors=True)
        tmp.rename(cache)
    saved = json.loads(index.read_text())
    rungs = [EncodedRung(**r) for r in saved["rungs"]]
    how = (f"per-title ladder ({saved['metric']}, analysis {saved['analysis_s']:.0f} s, encode "
           f"{saved['encode_s']:.0f} s, cached in {cache}): "
           + ", ".join(f"{r.height}p {r.kbps:.0f} kb/s" for r in rungs))  # fmt: skip
    videos = [VideoRendition(cache / r.file, r.width, r.height, round(r.kbps * 1000),
                             name=Path(r.file).stem) for r in rungs]  # fmt: skip
    return videos, how


def publish(
    settings: Settings,
    engine: Engine,
    store: LocalStore,
    work: Path,
    *,
    title_id: str,
    segment_s: int,
) -> tuple[published.PublishedTitle, str]:
    """Publish the bench title with ``segment_s`` segments; returns it and how it was made."""
    videos, how = encoded_rungs(settings, work)
    published.SECONDS = SECONDS  # make_media reads it at call time (audio, subtitles, art)
    media = published.make_media(work / "media", ffmpeg=settings.binary("ffmpeg"))
    title = published.publish_title(
        settings, engine, store, media, packager=settings.binary("packager"),
        title_id=title_id, videos=tuple(videos), segment_duration=segment_s,
    )  # fmt: skip
    return title, f"{how}; {segment_s} s segments"
