"""The Temporal schedule that starts ``EventsUpkeepWorkflow`` every hour, a few minutes past.

Client code (the control worker at start, ``reelflow events schedule``), never imported by
workflow code. The control worker ensures the schedule whenever it starts: created when
missing, otherwise brought to this code's action, timing and policies while an operator's
pause and note stay, so a deployment that changes them needs no migration step and two
workers starting at once still leave one schedule.

- Every hour at minute 5: the writer's last files of the hour that just ended are in
  seconds after it; a batch reclaimed later only makes the hour pending again.
- Overlap: skip. A run that takes longer than an hour (a first run over a large store)
  is not joined by a second one working the same hours; the next tick after it picks up.
- Catch-up window of one hour: after an outage one run catches up on everything (a run
  works every pending hour), not one run per missed tick.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionExecutionStartWorkflow,
    ScheduleActionStartWorkflow,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
)

from reelflow.config import Settings
from reelflow.lifecycle.events_upkeep import UpkeepRequest
from reelflow.workflows.events_upkeep import EventsUpkeepWorkflow
from reelflow.workflows.schedules import ensure_schedule

EVERY = timedelta(hours=1)
OFFSET = timedelta(minutes=5)
CATCHUP = timedelta(hours=1)
# A wedged run must not hold the schedule (overlap: skip) for ever.
RUN_TIMEOUT = timedelta(hours=12)


def upkeep_schedule_id(settings: Settings) -> str:
    """One schedule per control queue: its runs go to that queue's workers (and their
    store), so two stacks sharing a namespace each keep their own."""
    return f"events-upkeep:{settings.control_queue}"


def _schedule(settings: Settings) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            EventsUpkeepWorkflow.run,
            UpkeepRequest(),
            id=upkeep_schedule_id(settings),  # the server appends the tick's time
            task_queue=settings.control_queue,
            execution_timeout=RUN_TIMEOUT,
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=EVERY, offset=OFFSET)]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=CATCHUP),
    )


async def ensure_upkeep_schedule(client: Client, settings: Settings) -> bool:
    """Create the schedule, or update an existing one to this code's; True if created."""
    return await ensure_schedule(client, upkeep_schedule_id(settings), _schedule(settings))


@dataclass(frozen=True)
class UpkeepScheduleView:
    """What ``reelflow events schedule show`` prints."""

    id: str
    paused: bool
    note: str
    every_s: float
    offset_s: float
    overlap: str
    next_runs: list[datetime]
    running: list[str]  # workflow ids
    recent: list[dict[str, str]]  # scheduled_at, started_at, workflow_id


async def describe_upkeep_schedule(client: Client, settings: Settings) -> UpkeepScheduleView:
    """The schedule as the server has it (RPCError NOT_FOUND when there is none)."""
    desc = await client.get_schedule_handle(upkeep_schedule_id(settings)).describe()
    intervals = desc.schedule.spec.intervals
    recent = [
        {
            "scheduled_at": r.scheduled_at.isoformat(),
            "started_at": r.started_at.isoformat(),
            "workflow_id": r.action.workflow_id,
        }
        for r in desc.info.recent_actions
        if isinstance(r.action, ScheduleActionExecutionStartWorkflow)
    ]
    return UpkeepScheduleView(
        id=desc.id,
        paused=desc.schedule.state.paused,
        note=desc.schedule.state.note or "",
        every_s=intervals[0].every.total_seconds() if intervals else 0.0,
        offset_s=(intervals[0].offset or timedelta()).total_seconds() if intervals else 0.0,
        overlap=desc.schedule.policy.overlap.name.lower(),
        next_runs=list(desc.info.next_action_times),
        running=[
            a.workflow_id
            for a in desc.info.running_actions
            if isinstance(a, ScheduleActionExecutionStartWorkflow)
        ],
        recent=recent,
    )


async def trigger_upkeep(client: Client, settings: Settings) -> None:
    """Start a run now, under the schedule's overlap policy (skipped while one runs)."""
    await client.get_schedule_handle(upkeep_schedule_id(settings)).trigger()
