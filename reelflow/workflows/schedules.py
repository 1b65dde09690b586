"""Ensuring a Temporal schedule from code: client code (a worker at start, the CLI), never
imported by workflow code. One rule for every schedule reelflow runs (the events upkeep's,
the recommendation training's): created when missing, else brought to this code's action,
timing and policy while an operator's pause and note stay."""

from __future__ import annotations

from temporalio.client import (
    Client,
    Schedule,
    ScheduleAlreadyRunningError,
    ScheduleUpdate,
    ScheduleUpdateInput,
)


async def ensure_schedule(client: Client, schedule_id: str, wanted: Schedule) -> bool:
    """Create ``schedule_id`` as ``wanted``, or update the existing one to it; True if
    created."""
    try:
        await client.create_schedule(schedule_id, wanted)
        return True
    except ScheduleAlreadyRunningError:
        pass

    def update(current: ScheduleUpdateInput) -> ScheduleUpdate:
        wanted.state = current.description.schedule.state  # paused and note are ops'
        return ScheduleUpdate(schedule=wanted)

    await client.get_schedule_handle(schedule_id).update(update)
    return False
