"""The Temporal schedule that starts ``RecsTrainingWorkflow`` every REELFLOW_RECS_TRAIN_EVERY_H
hours (6 by default). Client code (the control worker at start, ``reelflow recs train``),
never imported by workflow code.

Ensured like the events upkeep's (events_upkeep_schedule.py): created when missing, else
brought to this code's action and timing while an operator's pause and note stay.
Overlap: skip (a run still training is not joined by a second); catch-up one interval: after
an outage one run trains on everything, not one run per missed tick.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
)

from reelflow.config import Settings
from reelflow.lifecycle.recs_training import TrainingRequest
from reelflow.workflows.recs_training import RecsTrainingWorkflow
from reelflow.workflows.schedules import ensure_schedule

# A wedged run must not hold the schedule (overlap: skip) for ever.
RUN_TIMEOUT = timedelta(hours=6)
OFFSET = timedelta(minutes=20)  # clear of the events upkeep at minute 5


def training_schedule_id(settings: Settings) -> str:
    """One schedule per control queue, like the events upkeep's."""
    return f"recs-training:{settings.control_queue}"


def _schedule(settings: Settings) -> Schedule:
    every = timedelta(hours=settings.recs_train_every_h)
    return Schedule(
        action=ScheduleActionStartWorkflow(
            RecsTrainingWorkflow.run,
            TrainingRequest(),
            id=training_schedule_id(settings),  # the server appends the tick's time
            task_queue=settings.control_queue,
            execution_timeout=RUN_TIMEOUT,
        ),
        spec=ScheduleSpec(
            intervals=[ScheduleIntervalSpec(every=every, offset=min(OFFSET, every / 2))]
        ),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=every),
    )


async def ensure_training_schedule(client: Client, settings: Settings) -> bool:
    """Create the schedule, or update an existing one to this code's; True if created."""
    return await ensure_schedule(client, training_schedule_id(settings), _schedule(settings))


async def trigger_training(client: Client, settings: Settings) -> None:
    """Start a run now, under the schedule's overlap policy (skipped while one runs)."""
    await client.get_schedule_handle(training_schedule_id(settings)).trigger()
