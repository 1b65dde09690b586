"""The title lifecycle up to renditions on Temporal vs the same media work in a plain script.

Same master, same run. The candidate is TitleWorkflow (fixed ladder, to keep the work
deterministic) on a Temporal dev server started here, with the control and media workers
in-process: ingest (copy + hash into the store), QC, approval gate, ladder, chunked encode,
join + verify, audio, thumbnails; timed from start until the workflow reports its
renditions ready. The baseline calls the same ``reelflow.media`` functions directly, one
after the other: run_qc, encode_chunk over the same chunk plan, join_chunks,
verify_rendition, encode_audio, make_thumbnails, make_artwork. The ratio is the price of
orchestration (activities, heartbeats, catalog writes, object-store copies); the issue
aims at <= 1.10x.

    .venv/bin/python bench/orchestration.py [--seconds 20] [--size 1280x720]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from temporalio.client import Client

from reelflow.catalog.db import upgrade
from reelflow.config import Settings
from reelflow.domain.ladders import apple_fixed_ladder
from reelflow.media.audio import encode_audio
from reelflow.media.chunks import Chunk, plan_chunks
from reelflow.media.encode import EncodeAdaptations, chunk_frames, encode_chunk, join_chunks
from reelflow.media.probe import probe
from reelflow.media.qc import run_qc
from reelflow.media.qc_report import QCOptions
from reelflow.media.rendition_check import verify_rendition
from reelflow.media.samples import make_test_title
from reelflow.media.thumbnails import make_artwork, make_thumbnails

VENV_BIN = Path(sys.executable).parent
# States the workflow reaches once part 1 (renditions) is over and part 2 has begun.
PAST_RENDITIONS = {"packaging", "published", "expired", "taken_down"}


class BenchFailed(RuntimeError):
    """A run did not produce what it should; the figures would mean nothing."""


@dataclass
class BaselineResult:
    seconds: float
    rungs: int
    chunks: int


def make_master(path: Path, seconds: int, size: str, ffmpeg: str) -> None:
    """testsrc2 + a tone at about -23 LUFS, so QC passes without a loudness warning."""
    make_test_title(
        path,
        ffmpeg=ffmpeg,
        seconds=seconds,
        size=size,
        rate=25,
        audio_filter="volume=-1dB",
        audio_bitrate="192k",
        video_args=("-preset", "fast", "-crf", "18"),
    )


# ---------------------------------------------------------------- baseline: a plain script
def run_plain(master: Path, settings: Settings, work: Path) -> BaselineResult:
    ffmpeg, ffprobe = settings.binary("ffmpeg"), settings.binary("ffprobe")
    gop_s = float(settings.gop_seconds)
    t0 = time.perf_counter()
    report = run_qc(
        master,
        ffmpeg=ffmpeg,
        ffprobe=ffprobe,
        options=QCOptions(
            loudness_target_lufs=settings.loudness_target_lufs,
            loudness_tolerance_lu=settings.loudness_tolerance_lu,
        ),
    )
    if not report.passed or report.media is None or report.media.video is None:
        raise BenchFailed(f"baseline QC failed: {report.summary()}")
    info = report.media
    video = report.media.video
    adapt = report.adaptations
    fps = float(adapt.force_cfr_fps or video.avg_fps or video.fps or 0.0)
    ladder = apple_fixed_ladder(*video.display_size)
    chunks = plan_chunks(info.duration_s, segment_s=float(settings.segment_duration))
    encode_adapt = EncodeAdaptations(
        deinterlace=adapt.deinterlace, rotation=adapt.rotate_degrees, tonemap=False
    )
    outputs = [
        encode_chunk(
            master,
            chunk,
            ladder,
            work / f"chunk{chunk.index}",
            ffmpeg=ffmpeg,
            fps=fps,
            gop_s=gop_s,
            adaptations=encode_adapt,
        )
        for chunk in chunks
    ]
    frames = chunk_frames(Chunk(0, 0.0, info.duration_s), fps)
    for rung in ladder.rungs:
        joined = join_chunks(
            [o[rung.name] for o in outputs], work / f"{rung.name}.mp4", ffmpeg=ffmpeg
        )
        check = verify_rendition(
            joined,
            ffprobe=ffprobe,
            expected_duration_s=info.duration_s,
            expected_frames=frames,
            gop_s=gop_s,
            fps=fps,
        )
        if not check.ok:
            raise BenchFailed(f"baseline rendition {rung.name}: {check.problems}")
    # The audio activity probes the master itself; so does the baseline.
    encode_audio(
        master,
        work / "audio",
        ffmpeg=ffmpeg,
        info=probe(master, ffprobe=ffprobe),
        normalize=adapt.normalize_loudness,
        target_lufs=settings.loudness_target_lufs,
    )
    make_thumbnails(master, work / "sprites", ffmpeg=ffmpeg, duration_s=info.duration_s)
    make_artwork(master, work / "art", ffmpeg=ffmpeg, duration_s=info.duration_s)
    return BaselineResult(time.perf_counter() - t0, len(ladder.rungs), len(chunks))


# ---------------------------------------------------------------- candidate: TitleWorkflow
async def run_workflow(client: Client, master: Path, home: Path) -> tuple[float, int, int]:
    """One title through TitleWorkflow with fresh state (no reusable outputs)."""
    from reelflow.domain.ids import workflow_id
    from reelflow.lifecycle import contracts as c
    from reelflow.workers.main import build_worker
    from reelflow.workflows.title import TitleWorkflow

    queue = f"bench-{uuid.uuid4().hex[:8]}"
    settings = Settings(home=home, control_queue=f"{queue}-control", media_queue=f"{queue}-media")
    settings.ensure_home()
    upgrade(settings.resolved_database_url)
    control = build_worker(client, settings, "control")
    media = build_worker(client, settings, "media")
    async with control, media:
        title_id = f"bench-{uuid.uuid4().hex[:8]}"
        t0 = time.perf_counter()
        handle = await client.start_workflow(
            TitleWorkflow.run,
            c.TitleInput(
                title_id=title_id,
                source=str(master),
                name="Orchestration bench",
                options=c.TitleOptions(ladder="fixed"),
                media_queue=settings.media_queue,
            ),
            id=workflow_id(title_id),
            task_queue=settings.control_queue,
        )
        try:
            while True:
                status: c.TitleStatus = await handle.query(TitleWorkflow.status)
                if status.state in PAST_RENDITIONS:
                    elapsed = time.perf_counter() - t0
                    break
                if status.state == "awaiting_approval":
                    raise BenchFailed(f"QC warned, the gate waits: {status.qc_warnings}")
                if status.state in ("failed", "qc_failed", "rejected"):
                    raise BenchFailed(f"workflow ended {status.state}: {status.errors}")
                await asyncio.sleep(0.05)
        finally:
            await handle.terminate("benchmark done")
    videos = [r for r in status.renditions if r.kind == "video"]
    encode = next(s for s in status.stages if s.name == "encode")
    chunks = int(encode.detail.split(" ", 1)[0]) if encode.detail else 0
    return elapsed, len(videos), chunks


async def bench(args: argparse.Namespace, settings: Settings, root: Path) -> None:
    from temporalio.testing import WorkflowEnvironment

    from reelflow.workflows.client import SEARCH_ATTRIBUTES

    master = root / "master.mp4"
    make_master(master, args.seconds, args.size, settings.binary("ffmpeg"))
    print(f"master: {args.seconds} s {args.size} testsrc2 + tone, fixed (Apple) ladder")
    print(f"load average before: {os.getloadavg()[0]:.1f} (2 cores, shared)")
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(VENV_BIN / "temporal"),
        search_attributes=SEARCH_ATTRIBUTES,
        dev_server_extra_args=["--headless"],
    )
    plain: list[float] = []
    flow: list[float] = []
    try:
        for n in range(args.rounds):
            # Alternate the order so neither side always runs on a warmer machine.
            for side in ("plain", "workflow") if n % 2 == 0 else ("workflow", "plain"):
                if side == "plain":
                    base = await asyncio.to_thread(run_plain, master, settings, root / f"p{n}")
                    plain.append(base.seconds)
                    work = f"{base.chunks} chunk(s) x {base.rungs} rungs"
                    print(f"round {n + 1} plain script  : {base.seconds:7.2f} s  ({work})")
                else:
                    wf_s, rungs, chunks = await run_workflow(env.client, master, root / f"s{n}")
                    flow.append(wf_s)
                    print(
                        f"round {n + 1} TitleWorkflow : {wf_s:7.2f} s  "
                        f"({chunks} chunk(s) x {rungs} rungs)"
                    )
                    if (rungs, chunks) != (base.rungs, base.chunks) and plain:
                        raise BenchFailed("the two runs did different work")
    finally:
        await env.shutdown()
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    print(f"best plain script : {min(plain):7.2f} s")
    print(f"best TitleWorkflow: {min(flow):7.2f} s")
    print(f"ratio workflow / plain (best of {args.rounds}): {min(flow) / min(plain):.3f}x")
    print(f"ratio workflow / plain (sum):       {sum(flow) / sum(plain):.3f}x (aim <= 1.10x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="reelflow-bench-orch-") as tmp:
        asyncio.run(bench(args, Settings(), Path(tmp)))


if __name__ == "__main__":
    main()
