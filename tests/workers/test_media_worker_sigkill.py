"""Losing the media worker mid-encode costs one chunk attempt, not the title.

Real Temporal dev server, real ffmpeg, the real media worker as a separate process
(`reelflow worker --queue media`): it is SIGKILLed while encode_chunk runs, a fresh worker
process takes the retry after the heartbeat timeout, and the title still reaches its
renditions with exactly one output object per rung.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType, PendingActivityState
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from reelflow.catalog import engine_from_settings
from reelflow.catalog.db import upgrade
from reelflow.config import Settings
from reelflow.domain.ids import workflow_id
from reelflow.lifecycle import contracts as c
from reelflow.workers.main import build_worker
from reelflow.workflows.title import TitleWorkflow
from tests.fixtures import catalog_reads as reads
from tests.workflows.conftest import make_clip

pytestmark = pytest.mark.slow

REELFLOW_CLI = Path(sys.executable).parent / "reelflow"
# Short, so the retry after the kill comes in seconds rather than the default 30 s.
HEARTBEAT_TIMEOUT_S = 8.0
# Part 1 is over once the workflow has moved on to part 2 (keys, packaging, ...).
PAST_RENDITIONS = {"packaging", "published", "expired", "taken_down"}


@contextmanager
def media_worker(settings: Settings, address: str, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`reelflow worker --queue media` in its own process group, killed on the way out."""
    env = dict(os.environ)
    env.update(
        REELFLOW_HOME=str(settings.home),
        REELFLOW_TEMPORAL_ADDRESS=address,
        REELFLOW_MEDIA_QUEUE=settings.media_queue,
        REELFLOW_CONTROL_QUEUE=settings.control_queue,
    )
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [str(REELFLOW_CLI), "worker", "--queue", "media"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            # Its own group, so a kill takes its ffmpeg children too, as losing a host would.
            start_new_session=True,
        )
    try:
        yield proc
    finally:
        kill_group(proc)


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


async def encode_running(handle: WorkflowHandle[Any, Any]) -> bool:
    """True once an encode_chunk attempt has started and heartbeated (ffmpeg is working).

    Approves the title if QC warned (the test tone's loudness may): the gate then waits.
    """
    status: c.TitleStatus = await handle.query(TitleWorkflow.status)
    if status.state == "awaiting_approval":
        await handle.signal(TitleWorkflow.approve, "test-ops")
    elif status.state not in ("ingesting", "qc", "processing"):
        raise AssertionError(f"workflow went past encode unexpectedly: {status}")
    desc = await handle.describe()
    for act in desc.raw_description.pending_activities:
        if (
            act.activity_type.name == c.ENCODE_CHUNK
            and act.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
            and act.HasField("last_heartbeat_time")
        ):
            return True
    return False


async def encode_attempts(handle: WorkflowHandle[Any, Any]) -> list[int]:
    """Attempt numbers of every encode_chunk attempt that completed, from the history."""
    scheduled: dict[int, str] = {}
    attempts: list[int] = []
    started: dict[int, int] = {}
    async for ev in handle.fetch_history_events():
        if ev.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            scheduled[ev.event_id] = ev.activity_task_scheduled_event_attributes.activity_type.name
        elif ev.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            attrs = ev.activity_task_started_event_attributes
            started[attrs.scheduled_event_id] = attrs.attempt
        elif ev.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            sched = ev.activity_task_completed_event_attributes.scheduled_event_id
            if scheduled.get(sched) == c.ENCODE_CHUNK:
                attempts.append(started[sched])
    return attempts


async def poll(
    handle: WorkflowHandle[Any, Any], what: str, ok: Any, *, limit_s: float, proc: Any = None
) -> None:
    """Poll ``ok(handle)`` until it holds; fails (never hangs) after ``limit_s``."""
    for _ in range(int(limit_s / 0.1)):
        if await ok(handle):
            return
        if proc is not None and proc.poll() is not None:
            raise AssertionError(
                f"media worker exited early ({proc.returncode}) waiting for {what}"
            )
        await asyncio.sleep(0.1)
    status: c.TitleStatus = await handle.query(TitleWorkflow.status)
    raise AssertionError(f"timed out waiting for {what}; status {status}")


async def past_renditions(handle: WorkflowHandle[Any, Any]) -> bool:
    status: c.TitleStatus = await handle.query(TitleWorkflow.status)
    if status.state == "failed":
        raise AssertionError(f"workflow failed: {status.errors}")
    return status.state in PAST_RENDITIONS


async def test_sigkilled_media_worker_costs_one_chunk_not_the_title(
    temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    queue = f"kill-{uuid.uuid4().hex[:8]}"
    settings = Settings(
        home=tmp_path / "state", control_queue=f"{queue}-control", media_queue=f"{queue}-media"
    )
    settings.ensure_home()
    upgrade(settings.resolved_database_url)
    # Long enough that the one chunk's encode runs for a few seconds on 2 cores.
    clip = make_clip(tmp_path / "master.mp4", seconds=16, size="640x360", rate=30)
    title_id = f"kill-{uuid.uuid4().hex[:8]}"
    client: Client = temporal_env.client
    address = client.service_client.config.target_host
    log = tmp_path / "media-worker.log"

    async with build_worker(client, settings, "control"):
        handle = await client.start_workflow(
            TitleWorkflow.run,
            c.TitleInput(
                title_id=title_id,
                source=str(clip),
                name="Killed worker",
                options=c.TitleOptions(
                    ladder="fixed", media_heartbeat_timeout_s=HEARTBEAT_TIMEOUT_S
                ),
                media_queue=settings.media_queue,
            ),
            id=workflow_id(title_id),
            task_queue=settings.control_queue,
        )
        try:
            with media_worker(settings, address, log) as first:
                await poll(handle, "encode_chunk to run", encode_running, limit_s=120, proc=first)
                kill_group(first)
            assert first.returncode == -signal.SIGKILL
            with media_worker(settings, address, log) as second:
                await poll(handle, "renditions", past_renditions, limit_s=180, proc=second)
                status: c.TitleStatus = await handle.query(TitleWorkflow.status)
                attempts = await encode_attempts(handle)
        finally:
            await handle.terminate("test done")

    assert status.errors == [], status.errors
    assert attempts and max(attempts) >= 2, f"the kill did not hit an encode: {attempts}"
    rungs = [r.name for r in status.ladder]
    assert rungs
    videos = [r for r in status.renditions if r.kind == "video"]
    assert sorted(v.name for v in videos) == sorted(rungs)

    # Every file of the video renditions, dot-files (temp names) included.
    prefixes = {v.object_key.rsplit("/", 1)[0] for v in videos}
    assert len(prefixes) == 1, prefixes
    root = settings.resolved_store_root / prefixes.pop()
    files = [p.relative_to(root) for p in root.rglob("*") if p.is_file()]
    joined = [f for f in files if len(f.parts) == 1]
    assert sorted(f.name for f in joined) == sorted(f"{r}.mp4" for r in rungs), files
    chunk_dirs = {f.parent for f in files if f.parts[0] == "chunks"}
    # One completed encode_chunk per chunk, and one directory per chunk.
    assert len(chunk_dirs) == len(attempts), (files, attempts)
    for d in chunk_dirs:
        assert sorted(f.name for f in files if f.parent == d) == sorted(
            f"{r}.mp4" for r in rungs
        ), files
    assert len(files) == len(joined) + len(chunk_dirs) * len(rungs), files
    assert not [f for f in files if f.name.startswith(".")], files

    events = [e.event for e in reads.events_for(engine_from_settings(settings), title_id)]
    assert events.count("renditions_ready") == 1, events
    assert len(events) == len(set(events)), events
