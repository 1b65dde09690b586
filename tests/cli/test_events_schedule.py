"""`reelflow events schedule show|trigger`, run as an operator runs them, against the
Temporal dev server: a triggered run is worked by a real control worker over a local store,
and show tells the schedule's timing and its recent run."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import redis
from temporalio.client import ScheduleActionExecutionStartWorkflow
from temporalio.testing import WorkflowEnvironment

from reelflow.catalog.db import upgrade
from reelflow.config import Settings
from reelflow.events.aggregates import kept_qoe_hours, utc_hour
from reelflow.events.log import RedisStreamLog
from reelflow.events.schema import Context, parse_client_event, store
from reelflow.events.writer import EventWriter
from reelflow.storage import store_from_settings
from reelflow.workers.main import build_worker
from reelflow.workflows.events_upkeep import EventsUpkeepWorkflow
from reelflow.workflows.events_upkeep_schedule import ensure_upkeep_schedule, upkeep_schedule_id

REELFLOW = str(Path(sys.executable).parent / "reelflow")


async def _cli(settings: Settings, address: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        "REELFLOW_HOME": str(settings.home),
        "REELFLOW_TEMPORAL_ADDRESS": address,
        "REELFLOW_CONTROL_QUEUE": settings.control_queue,
        "PATH": "/usr/bin",
    }
    return await asyncio.to_thread(
        subprocess.run,
        [REELFLOW, "events", "schedule", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def _write_a_closed_qoe_hour(settings: Settings, redis_url: str) -> datetime:
    at = datetime.now(UTC) - timedelta(hours=2)
    client = redis.Redis.from_url(redis_url)
    log = RedisStreamLog(client, stream=f"test:events:{uuid.uuid4().hex}")
    body = {"type": "qoe", "ts": at.isoformat(), "title": "t1", "startup_ms": 120.0}
    events = [
        store(parse_client_event({"id": str(uuid.uuid4()), **body}), Context(viewer="v"), now=at)
        for _ in range(3)
    ]
    try:
        log.append(events)
        writer = EventWriter(log, store_from_settings(settings), "w", batch=1, block_ms=10)
        while writer.step():
            pass
    finally:
        client.delete(log.stream)
        client.close()
    return utc_hour(at)


async def test_trigger_runs_the_upkeep_and_show_reports_it(
    temporal_env: WorkflowEnvironment, tmp_path: Path, task_queue: str, redis_url: str
) -> None:
    settings = Settings(
        home=tmp_path / "state", control_queue=f"{task_queue}-control", redis_url=redis_url
    )
    settings.ensure_home()
    upgrade(settings.resolved_database_url)
    hour = _write_a_closed_qoe_hour(settings, redis_url)
    client = temporal_env.client
    address = client.service_client.config.target_host
    missing = await _cli(settings, address, "show")
    assert missing.returncode == 1 and "no schedule" in missing.stderr
    await ensure_upkeep_schedule(client, settings)
    handle = client.get_schedule_handle(upkeep_schedule_id(settings))
    try:
        async with build_worker(client, settings, "control"):
            triggered = await _cli(settings, address, "trigger")
            assert triggered.returncode == 0, triggered.stderr
            assert json.loads(triggered.stdout) == {"triggered": upkeep_schedule_id(settings)}
            run_id = ""
            for _ in range(100):  # the schedule starts the run within a moment: 20 s at most
                recent = (await handle.describe()).info.recent_actions
                if recent:
                    action = recent[0].action
                    assert isinstance(action, ScheduleActionExecutionStartWorkflow)
                    run_id = action.workflow_id
                    break
                await asyncio.sleep(0.2)
            assert run_id.startswith(upkeep_schedule_id(settings))
            run = client.get_workflow_handle_for(EventsUpkeepWorkflow.run, run_id)
            summary = await run.result()
        assert summary.hours_aggregated == 1 and summary.partitions_compacted == 1
        assert kept_qoe_hours(store_from_settings(settings)) == {hour}
        shown = await _cli(settings, address, "show")
        assert shown.returncode == 0, shown.stderr
        view = json.loads(shown.stdout)
        assert (view["every_s"], view["offset_s"], view["overlap"]) == (3600, 300, "skip")
        assert view["paused"] is False and run_id in [r["workflow_id"] for r in view["recent"]]
    finally:
        await handle.delete()
