"""Does a title's cost grow linearly with its length? The same source shape at several
lengths through the whole lifecycle, to ``published``.

Each length: a feature-shaped master (reelflow.media.samples.make_long_master: 320x180
5 fps MPEG-2 with 5.1 24-bit PCM, ~3.1 GB an hour) and an SRT covering it, one
TitleWorkflow (fixed ladder, DRM) on a Temporal dev server started here, with the control
and the media worker as separate `reelflow worker` processes (so their memory is theirs).
Measured per length: wall time per content minute in total and per stage (from the
workflow history: first schedule to last completion of each activity type), peak RSS of
the worker process trees (/proc, sampled every 0.2 s, children included) and the workers'
own VmHWM, history events and bytes, object count in the store. Printed: a table and the
ratios of the longest length against the shortest (aim: per-minute cost <= 1.1x, peak
memory <= 1.2x).

    .venv/bin/python bench/duration_scaling.py [--minutes 2,8,32,128] [--heartbeat-s 5]

Every length needs its master on disk three times (source, ingest scratch, store): at 128
minutes that is ~20 GB. Masters are deleted after each length.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle

from reelflow.catalog.db import upgrade
from reelflow.config import Settings
from reelflow.lifecycle import contracts as c
from reelflow.media.samples import make_long_master, write_long_subtitles

VENV_BIN = Path(sys.executable).parent
# Activity wire name -> the stage it is reported as, in lifecycle order.
STAGES: dict[str, str] = {
    c.INGEST_MASTER: "ingest",
    c.RUN_QC: "qc",
    c.ANALYSE_LADDER: "analyse",
    c.ENCODE_CHUNK: "encode",
    c.JOIN_RENDITIONS: "join",
    c.ENCODE_AUDIO: "audio",
    c.PREPARE_SUBTITLES: "subtitles",
    c.MAKE_THUMBNAILS: "thumbnails",
    c.GENERATE_KEYS: "keys",
    c.PACKAGE_TITLE: "package",
    c.PUBLISH_TITLE: "publish",
}


class BenchFailed(RuntimeError):
    """A run did not produce what it should; the figures would mean nothing."""


# ---------------------------------------------------------------- worker processes
def _children(pid: int) -> list[int]:
    out: list[int] = []
    with suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as fh:
                out += [int(p) for p in fh.read().split()]
    return out


def _status_kb(pid: int, field_name: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as fh:
            return fh.read().strip()
    except OSError:
        return "?"


def tree_rss_kb(pid: int, by_command: dict[str, int] | None = None) -> int:
    """Resident memory of ``pid`` and all its descendants (ffmpeg, packager) now; with
    ``by_command``, also each command's largest single process so far."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        rss = _status_kb(p, "VmRSS")
        total += rss
        if by_command is not None and rss:
            name = _comm(p)
            by_command[name] = max(by_command.get(name, 0), rss)
        todo += _children(p)
    return total


class RssSampler:
    """Samples the summed RSS of process trees every ``every_s`` in a thread; keeps peaks."""

    def __init__(self, pids: dict[str, int], every_s: float = 0.2) -> None:
        self.pids = pids
        self.peak_kb: dict[str, int] = dict.fromkeys(pids, 0)
        # command -> peak RSS of one process of it (which child holds the tree's peak)
        self.by_command: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(every_s,), daemon=True)

    def _run(self, every_s: float) -> None:
        while not self._stop.wait(every_s):
            for name, pid in self.pids.items():
                self.peak_kb[name] = max(self.peak_kb[name], tree_rss_kb(pid, self.by_command))

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def worker_env(settings: Settings, address: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        REELFLOW_HOME=str(settings.home),
        REELFLOW_TEMPORAL_ADDRESS=address,
        REELFLOW_MEDIA_QUEUE=settings.media_queue,
        REELFLOW_CONTROL_QUEUE=settings.control_queue,
    )
    return env


@contextmanager
def worker_process(
    settings: Settings, address: str, queue: str, log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """`reelflow worker --queue <queue>` in its own process group, killed on the way out."""
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [str(VENV_BIN / "reelflow"), "worker", "--queue", queue],
            env=worker_env(settings, address),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, 9)
        proc.wait(timeout=10)


# ---------------------------------------------------------------- history figures
@dataclass
class HistoryFigures:
    events: int
    bytes: int
    # stage -> wall seconds from its first activity scheduled to its last completed.
    stage_s: dict[str, float] = field(default_factory=dict)
    # stage -> activity attempts that ran (retries included).
    attempts: dict[str, int] = field(default_factory=dict)
    # encode_chunk scheduled event id -> identity of the worker that completed it.
    chunk_workers: dict[int, str] = field(default_factory=dict)


async def history_figures(handle: WorkflowHandle[Any, Any]) -> HistoryFigures:
    history = await handle.fetch_history()
    kinds: dict[int, str] = {}
    first: dict[str, float] = {}
    last: dict[str, float] = {}
    figures = HistoryFigures(len(history.events), len(history.to_json().encode()))
    started_by: dict[int, str] = {}
    for ev in history.events:
        at = ev.event_time.ToDatetime().timestamp()
        if ev.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            name = ev.activity_task_scheduled_event_attributes.activity_type.name
            kinds[ev.event_id] = name
            if name in STAGES:
                first.setdefault(STAGES[name], at)
        elif ev.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            attrs = ev.activity_task_started_event_attributes
            started_by[attrs.scheduled_event_id] = attrs.identity
            stage = STAGES.get(kinds.get(attrs.scheduled_event_id, ""))
            if stage:
                figures.attempts[stage] = figures.attempts.get(stage, 0) + attrs.attempt
        elif ev.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            sched = ev.activity_task_completed_event_attributes.scheduled_event_id
            name = kinds.get(sched, "")
            if name in STAGES:
                last[STAGES[name]] = at
            if name == c.ENCODE_CHUNK:
                figures.chunk_workers[sched] = started_by.get(sched, "")
    figures.stage_s = {s: last[s] - first[s] for s in first if s in last}
    return figures


# ---------------------------------------------------------------- one title
@dataclass
class LifecycleRun:
    seconds: float
    wall_s: float
    status: c.TitleStatus
    history: HistoryFigures
    title_id: str


async def wait_published(
    handle: WorkflowHandle[Any, Any], *, limit_s: float, procs: list[subprocess.Popen[bytes]]
) -> c.TitleStatus:
    """Poll the status (approving at the gate) until published; fails, never hangs."""
    from reelflow.workflows.title import TitleWorkflow

    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        status: c.TitleStatus = await handle.query(TitleWorkflow.status)
        if status.state == "published":
            return status
        if status.state in ("failed", "qc_failed", "rejected", "taken_down"):
            raise BenchFailed(f"title ended {status.state}: {status.errors or status.qc_failures}")
        if status.state == "awaiting_approval":
            await handle.signal(TitleWorkflow.approve, "bench")
        for p in procs:
            if p.poll() is not None:
                raise BenchFailed(f"a worker exited ({p.returncode}) before publishing")
        await asyncio.sleep(0.2)
    raise BenchFailed(f"not published within {limit_s:g} s: {status.state} {status.stages}")


async def run_lifecycle(
    client: Client,
    settings: Settings,
    master: Path,
    subtitles: Path,
    *,
    seconds: float,
    heartbeat_s: float,
    procs: list[subprocess.Popen[bytes]],
    limit_s: float,
) -> LifecycleRun:
    """One title from start to ``published`` on workers already polling ``settings``'
    queues; the caller takes it down."""
    from reelflow.domain.ids import workflow_id
    from reelflow.workflows.title import TitleWorkflow

    title_id = f"long-{uuid.uuid4().hex[:8]}"
    t0 = time.perf_counter()
    handle = await client.start_workflow(
        TitleWorkflow.run,
        c.TitleInput(
            title_id=title_id,
            source=str(master),
            name=f"Long title {seconds / 60:g} min",
            options=c.TitleOptions(ladder="fixed", media_heartbeat_timeout_s=heartbeat_s),
            subtitles=[c.SubtitleSource("en", str(subtitles))],
            media_queue=settings.media_queue,
        ),
        id=workflow_id(title_id),
        task_queue=settings.control_queue,
    )
    try:
        status = await wait_published(handle, limit_s=limit_s, procs=procs)
    except BaseException:
        with suppress(Exception):
            await handle.terminate("bench failed")
        raise
    wall = time.perf_counter() - t0
    figures = await history_figures(handle)
    return LifecycleRun(seconds, wall, status, figures, title_id)


def fresh_settings(home: Path) -> Settings:
    queue = f"scale-{uuid.uuid4().hex[:8]}"
    settings = Settings(home=home, control_queue=f"{queue}-control", media_queue=f"{queue}-media")
    settings.ensure_home()
    upgrade(settings.resolved_database_url)
    return settings


def count_objects(settings: Settings) -> int:
    root = settings.resolved_store_root
    return sum(1 for p in root.rglob("*") if p.is_file())


# ---------------------------------------------------------------- the bench
@dataclass
class Row:
    minutes: float
    run: LifecycleRun
    peak_rss_mb: dict[str, float]
    hwm_mb: dict[str, float]
    objects: int
    master_gb: float
    make_s: float
    by_command_mb: dict[str, float]


async def one_length(
    client: Client, root: Path, minutes: float, heartbeat_s: float, ffmpeg: str
) -> Row:
    from reelflow.domain.ids import workflow_id
    from reelflow.workflows.title import TitleWorkflow

    seconds = minutes * 60
    work = root / f"m{minutes:g}"
    t0 = time.perf_counter()
    master = make_long_master(work / "master.mov", ffmpeg=ffmpeg, seconds=seconds)
    subs = work / "en.srt"
    write_long_subtitles(subs, seconds=seconds)
    make_s = time.perf_counter() - t0
    master_gb = master.stat().st_size / 1e9
    settings = fresh_settings(work / "state")
    address = client.service_client.config.target_host
    log = work / "workers.log"
    try:
        with (
            worker_process(settings, address, "control", log) as control,
            worker_process(settings, address, "media", log) as media,
            RssSampler({"control": control.pid, "media": media.pid}) as rss,
        ):
            run = await run_lifecycle(
                client,
                settings,
                master,
                subs,
                seconds=seconds,
                heartbeat_s=heartbeat_s,
                procs=[control, media],
                limit_s=600 + 20 * seconds,
            )
            hwm = {
                "control": _status_kb(control.pid, "VmHWM") / 1024,
                "media": _status_kb(media.pid, "VmHWM") / 1024,
            }
            objects = count_objects(settings)
            handle = client.get_workflow_handle(workflow_id(run.title_id))
            await handle.signal(TitleWorkflow.takedown, "bench done")
            await handle.result()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    peak = {k: v / 1024 for k, v in rss.peak_kb.items()}
    by_command = {k: v / 1024 for k, v in rss.by_command.items()}
    return Row(minutes, run, peak, hwm, objects, master_gb, make_s, by_command)


def print_table(rows: list[Row]) -> None:
    stages = [
        s for s in dict.fromkeys(STAGES.values()) if any(s in r.run.history.stage_s for r in rows)
    ]
    head = f"{'min':>5} {'GB':>5} {'wall s':>7} {'s/min':>6} " + " ".join(
        f"{s[:7]:>7}" for s in stages
    )
    print("\nwall seconds per content minute, total and per stage")
    print(head)
    for r in rows:
        per = r.run.wall_s / r.minutes
        cells = " ".join(f"{r.run.history.stage_s.get(s, 0.0) / r.minutes:7.2f}" for s in stages)
        print(f"{r.minutes:5g} {r.master_gb:5.1f} {r.run.wall_s:7.1f} {per:6.2f} {cells}")
    print("\nmemory, history, store")
    print(
        f"{'min':>5} {'media RSS':>10} {'ctl RSS':>8} {'media HWM':>10} {'ctl HWM':>8} "
        f"{'events':>7} {'hist KB':>8} {'objects':>8} {'chunks':>7}"
    )
    for r in rows:
        h = r.run.history
        print(
            f"{r.minutes:5g} {r.peak_rss_mb['media']:8.0f}MB {r.peak_rss_mb['control']:6.0f}MB "
            f"{r.hwm_mb['media']:8.0f}MB {r.hwm_mb['control']:6.0f}MB {h.events:7d} "
            f"{h.bytes / 1024:8.0f} {r.objects:8d} {len(h.chunk_workers):7d}"
        )
    print("\nlargest single process per command (MB)")
    commands = sorted({k for r in rows for k in r.by_command_mb})
    print(f"{'min':>5} " + " ".join(f"{k[:10]:>10}" for k in commands))
    for r in rows:
        print(f"{r.minutes:5g} " + " ".join(f"{r.by_command_mb.get(k, 0):10.0f}" for k in commands))
    if len(rows) < 2:
        return
    lo, hi = rows[0], rows[-1]
    ratio = (hi.run.wall_s / hi.minutes) / (lo.run.wall_s / lo.minutes)
    print(f"\n{hi.minutes:g} min vs {lo.minutes:g} min:")
    print(f"  wall per content minute: {ratio:.2f}x (aim <= 1.1x)")
    for s in stages:
        a, b = lo.run.history.stage_s.get(s), hi.run.history.stage_s.get(s)
        if a and b:
            print(f"    {s:<10} {(b / hi.minutes) / (a / lo.minutes):5.2f}x")
    for proc in ("media", "control"):
        print(
            f"  peak RSS {proc:<7} tree: {hi.peak_rss_mb[proc] / lo.peak_rss_mb[proc]:.2f}x "
            f"(aim <= 1.2x); worker VmHWM {hi.hwm_mb[proc] / lo.hwm_mb[proc]:.2f}x"
        )
    print(f"  history bytes: {hi.run.history.bytes / lo.run.history.bytes:.2f}x")


async def bench(args: argparse.Namespace) -> None:
    from temporalio.testing import WorkflowEnvironment

    from reelflow.workflows.client import SEARCH_ATTRIBUTES

    minutes = [float(m) for m in args.minutes.split(",")]
    ffmpeg = Settings().binary("ffmpeg")
    print(
        f"lengths {args.minutes} min; 320x180 5 fps MPEG-2 + 5.1 PCM s24 48 kHz; fixed ladder, "
        f"DRM; media heartbeat timeout {args.heartbeat_s:g} s"
    )
    print(f"load average before: {os.getloadavg()[0]:.1f} (2 cores, shared)")
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(VENV_BIN / "temporal"),
        search_attributes=SEARCH_ATTRIBUTES,
        dev_server_extra_args=["--headless"],
    )
    rows: list[Row] = []
    try:
        with tempfile.TemporaryDirectory(prefix="reelflow-bench-scale-", dir=args.dir) as tmp:
            for m in minutes:
                row = await one_length(env.client, Path(tmp), m, args.heartbeat_s, ffmpeg)
                rows.append(row)
                h = row.run.history
                print(
                    f"{m:g} min: master {row.master_gb:.2f} GB made in {row.make_s:.0f} s; "
                    f"published in {row.run.wall_s:.0f} s; stages "
                    + ", ".join(f"{k} {v:.1f}" for k, v in h.stage_s.items()),
                    flush=True,
                )
    finally:
        await env.shutdown()
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    print_table(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", default="2,8,32,128")
    parser.add_argument("--heartbeat-s", type=float, default=30.0)
    parser.add_argument("--dir", default=None, help="scratch folder (needs ~20 GB at 128 min)")
    asyncio.run(bench(parser.parse_args()))


if __name__ == "__main__":
    main()
