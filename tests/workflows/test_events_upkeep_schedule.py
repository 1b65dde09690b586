"""The hourly upkeep schedule on the Temporal dev server: ensured twice it is one schedule,
with this code's timing and policies, and an operator's pause survives a worker restart."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.client import (
    Client,
    ScheduleActionStartWorkflow,
    ScheduleOverlapPolicy,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.testing import WorkflowEnvironment

from reelflow.config import Settings
from reelflow.workflows.events_upkeep_schedule import (
    describe_upkeep_schedule,
    ensure_upkeep_schedule,
    upkeep_schedule_id,
)


@pytest.fixture
async def scheduled(
    temporal_env: WorkflowEnvironment, tmp_path: Path, task_queue: str
) -> AsyncIterator[tuple[Client, Settings]]:
    settings = Settings(home=tmp_path / "state", control_queue=f"{task_queue}-control")
    yield temporal_env.client, settings
    handle = temporal_env.client.get_schedule_handle(upkeep_schedule_id(settings))
    await handle.delete()


async def _listed(client: Client, wanted: str) -> list[str]:
    """The schedules listed under ``wanted``, once the (eventually consistent) list shows
    it: at most 50 looks over 10 s."""
    for _ in range(50):
        found = [s.id async for s in await client.list_schedules() if s.id == wanted]
        if found:
            return found
        await asyncio.sleep(0.2)
    return []


async def test_ensuring_twice_leaves_one_schedule_with_this_codes_timing(
    scheduled: tuple[Client, Settings],
) -> None:
    client, settings = scheduled
    schedule_id = upkeep_schedule_id(settings)
    assert schedule_id == f"events-upkeep:{settings.control_queue}"
    assert await ensure_upkeep_schedule(client, settings) is True
    assert await ensure_upkeep_schedule(client, settings) is False
    assert await _listed(client, schedule_id) == [schedule_id]
    desc = await client.get_schedule_handle(schedule_id).describe()
    [interval] = desc.schedule.spec.intervals
    assert (interval.every, interval.offset) == (timedelta(hours=1), timedelta(minutes=5))
    assert desc.schedule.policy.overlap == ScheduleOverlapPolicy.SKIP
    assert desc.schedule.policy.catchup_window == timedelta(hours=1)
    action = desc.schedule.action
    assert isinstance(action, ScheduleActionStartWorkflow)
    assert (action.workflow, action.task_queue) == ("EventsUpkeepWorkflow", settings.control_queue)
    view = await describe_upkeep_schedule(client, settings)
    assert (view.id, view.every_s, view.offset_s, view.overlap) == (schedule_id, 3600, 300, "skip")
    assert all(t.minute == 5 and t.second == 0 for t in view.next_runs) and view.next_runs


async def test_a_restart_keeps_an_operators_pause_and_restores_the_timing(
    scheduled: tuple[Client, Settings],
) -> None:
    client, settings = scheduled
    await ensure_upkeep_schedule(client, settings)
    handle = client.get_schedule_handle(upkeep_schedule_id(settings))
    await handle.pause(note="store migration")

    def every_day(current: ScheduleUpdateInput) -> ScheduleUpdate:
        changed = current.description.schedule
        changed.spec.intervals[0].every = timedelta(days=1)
        return ScheduleUpdate(schedule=changed)

    await handle.update(every_day)  # someone changed it by hand
    assert await ensure_upkeep_schedule(client, settings) is False
    view = await describe_upkeep_schedule(client, settings)
    assert (view.paused, view.note, view.every_s) == (True, "store migration", 3600)
