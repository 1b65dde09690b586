"""EventsUpkeepWorkflow: the viewer events' hourly upkeep, started by a Temporal schedule
(``events_upkeep_schedule``) a few minutes past every hour.

Plan (which event types have closed hours with work left), then each such type's
compaction with its kept aggregates, one activity per type, then retention. Every activity
is idempotent, so a failed run is simply followed by the next hour's, which finds what is
left. The ``progress`` query shows the stage and each type's state and counts; inside a
type, the running activity's heartbeat details show the hours done.

Deterministic orchestration only: the activities are called through their typed
definitions (``lifecycle.activity_defs``) with the dataclasses of
``lifecycle.events_upkeep``; the run's instant is ``workflow.now()``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

# Full module names: the sandbox resolves the dataclasses' type hints through them
# (see workflows/title.py).
with workflow.unsafe.imports_passed_through():
    import reelflow.lifecycle.activity_defs as defs
    import reelflow.lifecycle.events_upkeep as u

RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=5),
    maximum_interval=timedelta(minutes=2),
    maximum_attempts=5,
    non_retryable_error_types=["ConfigError", "BadInstant"],
)
# A type's first run over a store that was never compacted can take a while; the heartbeat,
# not this, is what notices a dead worker.
TYPE_TIMEOUT = timedelta(hours=2)
HEARTBEAT = timedelta(seconds=60)

A = TypeVar("A")  # an activity's request
R = TypeVar("R")  # an activity's result


@workflow.defn(name="EventsUpkeepWorkflow")
class EventsUpkeepWorkflow:
    def __init__(self) -> None:
        self._progress = u.UpkeepProgress()

    @workflow.query
    def progress(self) -> u.UpkeepProgress:
        return self._progress

    @workflow.run
    async def run(self, req: u.UpkeepRequest) -> u.UpkeepSummary:
        now = self._as_of(req)
        self._progress.now = now
        plan = await self._call(defs.plan_events_upkeep, u.UpkeepAt(now), timedelta(minutes=10))
        self._progress.types = [u.TypeProgress(t.event_type, t.hours) for t in plan.types]
        self._progress.stage = "upkeep"
        done: list[u.TypeUpkeepResult] = []
        for row in self._progress.types:
            row.state = "running"
            request = u.TypeUpkeepRequest(row.event_type, now)
            result = await self._call(defs.upkeep_event_type, request, TYPE_TIMEOUT, row.event_type)
            row.state, row.compacted, row.aggregated = "done", result.compacted, result.aggregated
            done.append(result)
        self._progress.stage = "expire"
        expired = await self._call(defs.expire_events, u.UpkeepAt(now), TYPE_TIMEOUT)
        self._progress.stage = "done"
        return u.UpkeepSummary(
            now=now,
            types=done,
            files_expired=expired.files_by_type,
            partitions_compacted=sum(t.compacted for t in done),
            hours_aggregated=sum(t.aggregated for t in done) + expired.aggregated,
        )

    @staticmethod
    def _as_of(req: u.UpkeepRequest) -> str:
        """The run's instant: the request's if it gives one (never after the run's start,
        never without an offset), else the run's start."""
        started = workflow.now()
        if req.now is None:
            return started.isoformat()
        try:
            at = datetime.fromisoformat(req.now)
        except ValueError:
            at = None
        if at is None or at.tzinfo is None:
            raise ApplicationError(
                f"now={req.now!r}: an ISO 8601 instant with its offset",
                type="BadInstant",
                non_retryable=True,
            )
        if at > started:
            raise ApplicationError(
                f"now={req.now!r} is after the run's start: it would expire events still"
                " inside their retention",
                type="BadInstant",
                non_retryable=True,
            )
        return at.isoformat()

    @staticmethod
    async def _call(
        activity: Callable[[A], R], arg: A, timeout: timedelta, summary: str | None = None
    ) -> R:
        return await workflow.execute_activity(
            activity,
            arg,
            start_to_close_timeout=timeout,
            heartbeat_timeout=HEARTBEAT,
            retry_policy=RETRY,
            summary=summary,
        )
