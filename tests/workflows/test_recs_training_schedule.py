"""The recommendation training schedule on the Temporal dev server: ensured twice it is one
schedule with the configured interval, an operator's pause survives, and a trigger starts
a run of the training workflow."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.client import (
    Client,
    ScheduleActionExecutionStartWorkflow,
    ScheduleActionStartWorkflow,
    ScheduleOverlapPolicy,
)
from temporalio.testing import WorkflowEnvironment

from reelflow.config import Settings
from reelflow.workflows.recs_training_schedule import (
    ensure_training_schedule,
    training_schedule_id,
    trigger_training,
)


@pytest.fixture
async def scheduled(
    temporal_env: WorkflowEnvironment, tmp_path: Path, task_queue: str
) -> AsyncIterator[tuple[Client, Settings]]:
    settings = Settings(
        home=tmp_path / "state", control_queue=f"{task_queue}-control", recs_train_every_h=2
    )
    yield temporal_env.client, settings
    await temporal_env.client.get_schedule_handle(training_schedule_id(settings)).delete()


async def test_ensured_twice_is_one_schedule_at_the_configured_interval(
    scheduled: tuple[Client, Settings],
) -> None:
    client, settings = scheduled
    schedule_id = training_schedule_id(settings)
    assert schedule_id == f"recs-training:{settings.control_queue}"
    assert await ensure_training_schedule(client, settings) is True
    handle = client.get_schedule_handle(schedule_id)
    await handle.pause(note="holiday freeze")
    assert await ensure_training_schedule(client, settings) is False
    desc = await handle.describe()
    [interval] = desc.schedule.spec.intervals
    assert (interval.every, interval.offset) == (timedelta(hours=2), timedelta(minutes=20))
    assert desc.schedule.policy.overlap == ScheduleOverlapPolicy.SKIP
    assert desc.schedule.policy.catchup_window == timedelta(hours=2)
    assert (desc.schedule.state.paused, desc.schedule.state.note) == (True, "holiday freeze")
    action = desc.schedule.action
    assert isinstance(action, ScheduleActionStartWorkflow)
    assert (action.workflow, action.task_queue) == ("RecsTrainingWorkflow", settings.control_queue)


async def test_a_trigger_starts_a_training_run(scheduled: tuple[Client, Settings]) -> None:
    client, settings = scheduled
    await ensure_training_schedule(client, settings)
    await trigger_training(client, settings)  # no worker: the run waits on the queue
    handle = client.get_schedule_handle(training_schedule_id(settings))
    for _ in range(50):  # the action shows within a few describes; bounded
        desc = await handle.describe()
        if desc.info.recent_actions or desc.info.running_actions:
            break
        await asyncio.sleep(0.2)
    started = [*desc.info.recent_actions]
    assert len(started) == 1
    action = started[0].action
    assert isinstance(action, ScheduleActionExecutionStartWorkflow)
    assert action.workflow_id.startswith(training_schedule_id(settings))
    await client.get_workflow_handle(action.workflow_id).terminate("test over")
