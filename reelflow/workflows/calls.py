"""How TitleWorkflow calls its activities: retry policies, the control and media queues,
lifecycle events, and studio notifications beside the lifecycle.

Activities are called through their typed definitions (``lifecycle.activity_defs``): the
result's type comes from the definition, and mypy checks the argument against it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

from reelflow.workflows.stages import TitleRunState

with workflow.unsafe.imports_passed_through():
    import reelflow.lifecycle.activity_defs as defs
    import reelflow.lifecycle.contracts as c

# Errors that no retry can fix: the input itself is bad.
NON_RETRYABLE = [
    "BadSource",
    "BadMedia",
    "BadSubtitles",
    "SourceTooLarge",
    "PackageInvalid",
]
MEDIA_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=2),
    maximum_attempts=5,
    non_retryable_error_types=NON_RETRYABLE,
)
CONTROL_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30)
)
# Studio notifications (an rq enqueue) run beside the lifecycle, never in its way: a Redis
# outage costs at most this budget of retries, then a notification_failed event.
NOTIFY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1)
)
NOTIFY_BUDGET = timedelta(minutes=30)

A = TypeVar("A")  # an activity's request
R = TypeVar("R")  # an activity's result


class ActivityCalls(TitleRunState):
    async def _control(
        self,
        activity: Callable[[A], R],
        arg: A,
        *,
        summary: str | None = None,
        timeout: timedelta = timedelta(seconds=60),
    ) -> R:
        return await workflow.execute_activity(
            activity,
            arg,
            start_to_close_timeout=timeout,
            retry_policy=CONTROL_RETRY,
            summary=summary,
        )

    async def _media(
        self,
        activity: Callable[[A], R],
        arg: A,
        *,
        timeout: timedelta,
        summary: str | None = None,
    ) -> R:
        return await workflow.execute_activity(
            activity,
            arg,
            task_queue=self._input.media_queue if self._input else None,
            start_to_close_timeout=timeout,
            heartbeat_timeout=timedelta(
                seconds=self._input.options.media_heartbeat_timeout_s if self._input else 30.0
            ),
            retry_policy=MEDIA_RETRY,
            summary=summary,
        )

    async def _event(
        self,
        event: str,
        state: str | None,
        detail: dict[str, Any] | None = None,
        dedupe_suffix: str = "",
    ) -> None:
        inp = self._input
        assert inp is not None
        if state is not None:
            self._set_state(state)
        await self._control(
            defs.record_event,
            c.EventRequest(
                title_id=inp.title_id,
                version=inp.version,
                event=event,
                actor="workflow",
                state=state,
                detail=detail or {},
                # One row per transition even if the activity is retried.
                dedupe_key=(
                    f"{workflow.info().workflow_id}:{workflow.info().run_id}:{event}"
                    f"{':' + dedupe_suffix if dedupe_suffix else ''}"
                ),
            ),
            summary=event,
        )

    async def _notify(self, event: str, detail: dict[str, Any]) -> None:
        inp = self._input
        assert inp is not None
        req = c.NotifyRequest(inp.title_id, inp.version, event, detail)
        if not self._compact:  # awaited in line, retried without end (a run from before)
            await self._control(defs.notify_studio, req)
            return
        self._notifications.append(asyncio.create_task(self._send_notification(req)))

    async def _send_notification(self, req: c.NotifyRequest) -> None:
        """One studio notification beside the lifecycle; a failure becomes an event."""
        try:
            await workflow.execute_activity(
                defs.notify_studio,
                req,
                start_to_close_timeout=timedelta(seconds=30),
                schedule_to_close_timeout=NOTIFY_BUDGET,
                retry_policy=NOTIFY_RETRY,
                summary=f"notify {req.event}",
            )
        except ActivityError as exc:
            reason = str(exc.cause) if exc.cause is not None else str(exc)
            workflow.logger.warning("notification %s not sent: %s", req.event, reason)
            await self._event(
                "notification_failed",
                None,
                {"event": req.event, "reason": reason[:500]},
                dedupe_suffix=req.event,
            )

    async def _notifications_sent(self) -> None:
        """Wait for notifications still in flight (each bounded by NOTIFY_BUDGET): a run
        that ends drops its pending activities, and the last one is usually the studio's
        news that the title expired or was taken down."""
        if self._notifications:
            await asyncio.gather(*self._notifications)
