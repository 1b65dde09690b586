"""A long title's chunks spread over two media workers, and losing one mid-title costs
only its chunks in flight.

Real Temporal dev server, real ffmpeg, two real `reelflow worker --queue media` processes.
A 12-minute title (12 one-minute chunks) is encoded; once each worker has finished some
chunks and the victim is in the middle of another, the victim is SIGKILLed with its
ffmpeg. The survivor takes the rest and the retries; the title still reaches its
renditions with exactly one output per rung and one set of parts per chunk. Which worker
ran each chunk comes from the workflow history (the worker identity, ``<pid>@<host>``, of
each completed encode_chunk attempt).
"""

from __future__ import annotations

import signal
import uuid
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
from reelflow.media.samples import make_test_title
from reelflow.workers.main import build_worker
from reelflow.workflows.title import TitleWorkflow
from tests.fixtures import catalog_reads as reads
from tests.workers.test_media_worker_sigkill import (
    HEARTBEAT_TIMEOUT_S,
    encode_attempts,
    kill_group,
    media_worker,
    past_renditions,
    poll,
)

pytestmark = pytest.mark.slow

TITLE_S = 720  # 12 one-minute chunks
# Finished chunks each worker must have before the kill: proof that both took work.
DONE_BEFORE_KILL = 2


async def chunk_runs(handle: WorkflowHandle[Any, Any]) -> dict[str, list[int]]:
    """Worker identity -> attempts of completed encode_chunk activities it ran."""
    scheduled: set[int] = set()
    started: dict[int, tuple[str, int]] = {}
    runs: dict[str, list[int]] = {}
    async for ev in handle.fetch_history_events():
        if ev.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attrs = ev.activity_task_scheduled_event_attributes
            if attrs.activity_type.name == c.ENCODE_CHUNK:
                scheduled.add(ev.event_id)
        elif ev.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            a = ev.activity_task_started_event_attributes
            started[a.scheduled_event_id] = (a.identity, a.attempt)
        elif ev.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            sched = ev.activity_task_completed_event_attributes.scheduled_event_id
            if sched in scheduled:
                identity, attempt = started[sched]
                runs.setdefault(identity, []).append(attempt)
    return runs


def _pid(identity: str) -> int:
    return int(identity.split("@", 1)[0])


async def test_chunks_run_on_both_workers_and_survive_losing_one(
    temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    queue = f"spread-{uuid.uuid4().hex[:8]}"
    settings = Settings(
        home=tmp_path / "state", control_queue=f"{queue}-control", media_queue=f"{queue}-media"
    )
    settings.ensure_home()
    upgrade(settings.resolved_database_url)
    clip = make_test_title(
        tmp_path / "master.mp4",
        ffmpeg=settings.binary("ffmpeg"),
        seconds=TITLE_S,
        size="480x270",
        rate=12,
        audio_filter="volume=-1dB",
        video_args=("-preset", "ultrafast"),
    )
    title_id = f"spread-{uuid.uuid4().hex[:8]}"
    client: Client = temporal_env.client
    address = client.service_client.config.target_host
    log = tmp_path / "media-workers.log"

    async with build_worker(client, settings, "control"):
        handle = await client.start_workflow(
            TitleWorkflow.run,
            c.TitleInput(
                title_id=title_id,
                source=str(clip),
                name="Spread over workers",
                options=c.TitleOptions(
                    ladder="fixed", media_heartbeat_timeout_s=HEARTBEAT_TIMEOUT_S
                ),
                media_queue=settings.media_queue,
            ),
            id=workflow_id(title_id),
            task_queue=settings.control_queue,
        )
        try:
            with (
                media_worker(settings, address, log) as victim,
                media_worker(settings, address, log) as survivor,
            ):
                pids = {victim.pid, survivor.pid}

                async def both_worked_and_victim_busy(h: WorkflowHandle[Any, Any]) -> bool:
                    status: c.TitleStatus = await h.query(TitleWorkflow.status)
                    if status.state == "awaiting_approval":
                        await h.signal(TitleWorkflow.approve, "test-ops")
                    done = {_pid(i): len(a) for i, a in (await chunk_runs(h)).items()}
                    if any(done.get(p, 0) < DONE_BEFORE_KILL for p in pids):
                        if status.state in PAST_ENCODE:
                            raise AssertionError(f"encode ended before both worked: {done}")
                        return False
                    desc = await h.describe()
                    return any(
                        act.activity_type.name == c.ENCODE_CHUNK
                        and act.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
                        and act.last_worker_identity.startswith(f"{victim.pid}@")
                        for act in desc.raw_description.pending_activities
                    )

                await poll(
                    handle,
                    "both workers to finish chunks, the victim busy",
                    both_worked_and_victim_busy,
                    limit_s=240,
                    proc=survivor,
                )
                kill_group(victim)
                assert victim.returncode == -signal.SIGKILL
                await poll(handle, "renditions", past_renditions, limit_s=300, proc=survivor)
                status: c.TitleStatus = await handle.query(TitleWorkflow.status)
                runs = await chunk_runs(handle)
                attempts = await encode_attempts(handle)
        finally:
            await handle.terminate("test done")

    assert status.errors == [], status.errors
    by_pid = {_pid(i): a for i, a in runs.items()}
    assert set(by_pid) == {victim.pid, survivor.pid}, runs
    assert len(by_pid[victim.pid]) >= DONE_BEFORE_KILL, runs
    # The chunk the victim had in hand was retried by the survivor.
    assert any(a >= 2 for a in by_pid[survivor.pid]), runs
    chunks = TITLE_S // 60
    assert sum(len(a) for a in by_pid.values()) == chunks == len(attempts), (runs, attempts)
    # The title's status says how the chunks spread (from each result's worker field).
    encode = next(s for s in status.stages if s.name == "encode")
    for pid in (victim.pid, survivor.pid):
        assert f"{pid}@" in encode.detail, encode.detail
    per_worker = ", ".join(f"{i}: {len(a)} chunk(s)" for i, a in sorted(runs.items()))
    print(f"\nchunks per worker: {per_worker}; attempts {sorted(attempts)}")

    rungs = [r.name for r in status.ladder]
    videos = [r for r in status.renditions if r.kind == "video"]
    assert sorted(v.name for v in videos) == sorted(rungs)
    prefixes = {v.object_key.rsplit("/", 1)[0] for v in videos}
    assert len(prefixes) == 1, prefixes
    root = settings.resolved_store_root / prefixes.pop()
    files = [p.relative_to(root) for p in root.rglob("*") if p.is_file()]
    joined = [f for f in files if len(f.parts) == 1]
    # Exactly one output per rung, one set of parts per chunk, no temp files left.
    assert sorted(f.name for f in joined) == sorted(f"{r}.mp4" for r in rungs), files
    chunk_dirs = {f.parent for f in files if f.parts[0] == "chunks"}
    assert len(chunk_dirs) == chunks, sorted(chunk_dirs)
    assert len(files) == len(joined) + chunks * len(rungs), files
    assert not [f for f in files if f.name.startswith(".")], files
    events = [e.event for e in reads.events_for(engine_from_settings(settings), title_id)]
    assert events.count("renditions_ready") == 1, events


PAST_ENCODE = {"packaging", "published", "failed", "expired", "taken_down"}
