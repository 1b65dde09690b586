"""Timer heartbeats (activities/heartbeat.py): they keep coming while the body blocks, carry
the step's progress and resume state, and stop when the body ends or raises; and a real
media activity under a real worker with a 2 s heartbeat timeout survives a slow step.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from temporalio import activity, workflow
from temporalio.client import Client, WorkflowFailureError
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, TimeoutError, TimeoutType
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment
from temporalio.worker import Worker

from reelflow.activities.deps import Deps
from reelflow.activities.heartbeat import auto_heartbeat, current_progress, heartbeating
from reelflow.activities.media_activities import MediaActivities
from reelflow.catalog import titles as q
from reelflow.catalog.db import upgrade
from reelflow.config import Settings
from reelflow.lifecycle import activity_defs as defs
from reelflow.lifecycle import contracts as c
from reelflow.media.watchdog import SubprocessStalled

BEAT_TIMEOUT = timedelta(seconds=0.3)


def env_with(beats: list[dict[str, Any]], **info: Any) -> ActivityEnvironment:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, heartbeat_timeout=BEAT_TIMEOUT, **info)
    env.on_heartbeat = lambda *details: beats.append(details[0])
    return env


def test_heartbeats_keep_coming_while_the_body_blocks_and_carry_progress() -> None:
    beats: list[dict[str, Any]] = []

    def body() -> None:
        with heartbeating() as progress:
            counter = progress.bytes("upload master.mov", total=1000)
            counter(400)
            time.sleep(0.6)  # blocked, as in a long copy: no code of ours runs
            counter(600)
            progress.update("package")
            time.sleep(0.6)

    env_with(beats).run(body)
    ended = len(beats)
    time.sleep(0.4)
    assert len(beats) == ended  # nothing after the body returned
    # every 0.1 s (timeout / 3) over 1.2 s, on a loaded machine at least half of them
    assert ended >= 6
    steps = [b["step"] for b in beats]
    assert "upload master.mov" in steps and steps[-1] == "package"
    upload = [b for b in beats if b["step"] == "upload master.mov"]
    assert upload[0] == upload[0] | {"done": 400, "total": 1000, "unit": "bytes"}
    assert all(b["elapsed_s"] >= 0 for b in beats)


def test_heartbeats_stop_when_the_body_raises() -> None:
    beats: list[dict[str, Any]] = []

    def body() -> None:
        with heartbeating():
            time.sleep(0.35)
            raise RuntimeError("step failed")

    with pytest.raises(RuntimeError, match="step failed"):
        env_with(beats).run(body)
    ended = len(beats)
    assert ended >= 2
    time.sleep(0.4)
    assert len(beats) == ended


def test_resume_state_survives_into_the_next_attempt_and_is_heartbeated_at_once() -> None:
    earlier = {"step": "upload", "done": 5, "resume": {"masters/t/x": {"upload_id": "u1"}}}
    beats: list[dict[str, Any]] = []

    def body() -> None:
        with heartbeating() as progress:
            resume = progress.upload_resume("masters/t/x")
            assert resume.state == {"upload_id": "u1"}
            before = len(beats)
            resume.update({"upload_id": "u2"})
            assert len(beats) == before + 1  # not a timer tick later
            assert beats[-1]["resume"] == {"masters/t/x": {"upload_id": "u2"}}
            progress.checkpoint("masters/t/x", None)
            assert "resume" not in beats[-1]

    env_with(beats, heartbeat_details=[earlier]).run(body)


def test_a_stalled_tool_becomes_a_retryable_named_failure(tmp_path: Path) -> None:
    class Stalls:
        def __init__(self) -> None:
            self.deps = Deps(Settings(home=tmp_path), None, None)  # type: ignore[arg-type]

        @auto_heartbeat
        def run(self) -> None:
            raise type("PackagerStalled", (SubprocessStalled,), {})("package made no progress")

    with pytest.raises(ApplicationError) as err:
        ActivityEnvironment().run(Stalls().run)
    assert err.value.type == "SubprocessStalled" and not err.value.non_retryable
    assert "package made no progress" in str(err.value)


def test_outside_a_worker_the_body_runs_without_heartbeats_but_with_stall_limits(
    tmp_path: Path,
) -> None:
    """Ops tooling (key rotation, the keystore tests) calls activity methods directly."""

    class Direct:
        def __init__(self) -> None:
            self.deps = Deps(Settings(home=tmp_path), None, None)  # type: ignore[arg-type]

        @auto_heartbeat
        def run(self) -> str:
            current_progress().update("rotate keys")  # reported to nobody, and no error
            return "ran"

        @auto_heartbeat
        def hang(self) -> None:
            raise SubprocessStalled("ffmpeg made no progress")

    assert not activity.in_activity()
    assert Direct().run() == "ran"
    with pytest.raises(ApplicationError, match="ffmpeg made no progress"):
        Direct().hang()


# ---- a real activity under a real worker --------------------------------------------------
WORKER_BEAT_TIMEOUT = timedelta(seconds=2)
SLOW_S = 7.0  # the fetch takes three and a half heartbeat timeouts
BLOCKS = 14


class Trickle(BaseHTTPRequestHandler):
    """A slow studio server: the master arrives in blocks over SLOW_S seconds."""

    def do_GET(self) -> None:
        block = b"\x00" * 256 * 1024  # the fetch reads 1 MiB blocks
        self.send_response(200)
        self.send_header("Content-Length", str(len(block) * BLOCKS))
        self.end_headers()
        for _ in range(BLOCKS):
            self.wfile.write(block)
            self.wfile.flush()
            time.sleep(SLOW_S / BLOCKS)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def slow_source() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Trickle)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/master.mov"
    server.shutdown()
    server.server_close()


@dataclasses.dataclass
class Call:
    source: str
    title_id: str
    silent: bool = False


@activity.defn(name="silent_step")
def silent_step(seconds: float) -> None:
    time.sleep(seconds)  # the old way: a long step that never heartbeats


@workflow.defn(sandboxed=False)
class OneActivity:
    @workflow.run
    async def run(self, call: Call) -> c.IngestResult | None:
        options: dict[str, Any] = {
            "start_to_close_timeout": timedelta(seconds=60),
            "heartbeat_timeout": WORKER_BEAT_TIMEOUT,
            "retry_policy": RetryPolicy(maximum_attempts=1),
        }
        if call.silent:
            await workflow.execute_activity(silent_step, SLOW_S / 2, **options)
            return None
        return await workflow.execute_activity(
            defs.ingest_master, c.IngestRequest(call.title_id, 1, call.source), **options
        )


async def pending_details(client: Client, workflow_id: str) -> list[dict[str, Any]]:
    """What `temporal workflow describe` shows of the running activity's last heartbeat."""
    desc = await client.get_workflow_handle(workflow_id).describe()
    out: list[dict[str, Any]] = []
    for act in desc.raw_description.pending_activities:
        if act.HasField("heartbeat_details"):
            values = await client.data_converter.decode(act.heartbeat_details.payloads)
            out.extend(v for v in values if isinstance(v, dict))
    return out


async def test_a_slow_ingest_does_not_time_out_under_a_short_heartbeat_timeout(
    temporal_env: WorkflowEnvironment, tmp_path: Path, slow_source: str
) -> None:
    settings = Settings(home=tmp_path / "state")
    settings.ensure_home()
    upgrade(settings.resolved_database_url)
    deps = Deps.from_settings(settings)
    client = temporal_env.client
    queue = f"hb-{uuid.uuid4().hex[:8]}"
    title_id = f"hb-{uuid.uuid4().hex[:8]}"
    q.upsert_title(deps.engine, title_id=title_id, name="A long master")
    async with Worker(
        client,
        task_queue=queue,
        workflows=[OneActivity],
        activities=[MediaActivities(deps).ingest_master, silent_step],
        activity_executor=ThreadPoolExecutor(2),
    ):
        # The control: the same timeout kills a step that does not heartbeat.
        with pytest.raises(WorkflowFailureError) as failed:
            await client.execute_workflow(
                OneActivity.run, Call(slow_source, title_id, silent=True), id=f"{title_id}-silent",
                task_queue=queue,
            )  # fmt: skip
        cause = failed.value.cause
        assert isinstance(cause, ActivityError) and isinstance(cause.cause, TimeoutError)
        assert cause.cause.type == TimeoutType.HEARTBEAT

        started = time.monotonic()
        handle = await client.start_workflow(
            OneActivity.run, Call(slow_source, title_id), id=title_id, task_queue=queue
        )
        seen: list[dict[str, Any]] = []
        while time.monotonic() - started < SLOW_S + 60:
            desc = await handle.describe()
            if desc.raw_description.workflow_execution_info.HasField("close_time"):
                break
            seen += await pending_details(client, title_id)
            await asyncio.sleep(0.5)
        result = await handle.result()
    assert isinstance(result, c.IngestResult)
    assert result.size_bytes == 256 * 1024 * BLOCKS
    # It really outlived the heartbeat timeout three times over.
    assert time.monotonic() - started > 3 * WORKER_BEAT_TIMEOUT.total_seconds()
    # The attempt was never retried (maximum_attempts=1 would have failed the run) and its
    # heartbeats showed the fetch moving: the bytes done grew.
    fetches = [d["done"] for d in seen if d.get("step") == "fetch master"]
    assert len(set(fetches)) >= 2 and fetches == sorted(fetches)
    assert deps.store.stat(result.master_key).size == result.size_bytes
