"""LiveChannelWorkflow (id ``channel-<id>``): one live channel from creation to its end.

The channel's pipeline is one long activity on the live queue (``run_live_channel``). The
activity signals each change of the pipeline's state (idle, live, reconnecting); the
workflow keeps the latest report for its ``status`` query and sets ``ReelflowState`` and
``ReelflowTitleId`` so the Temporal UI lists channels by state. ``stop`` cancels the
activity and waits for it to close its processes; an encoder that stays away past the
reconnect window ends the activity by itself. Either way the channel ends.

Deterministic orchestration only: the activity through its typed definition.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    import reelflow.lifecycle.activity_defs as defs
    import reelflow.lifecycle.live_channels as lv
    from reelflow.domain.channels import ChannelState
    from reelflow.lifecycle.search_attributes import STATE_ATTR, TITLE_ID_ATTR

# A live host that dies stops heartbeating: the activity is retried on another live host.
HEARTBEAT = timedelta(seconds=20)
LONGEST_CHANNEL = timedelta(days=7)
RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=10),
    maximum_attempts=5,
    non_retryable_error_types=["ChannelNotFound", "StreamKeyUnsealError", "InvalidChannel"],
)
FINAL_STATES = frozenset({ChannelState.ENDED, ChannelState.ARCHIVED})


@workflow.defn(name="LiveChannelWorkflow")
class LiveChannelWorkflow:
    def __init__(self) -> None:
        self._status = lv.ChannelStatus(channel_id="", state=ChannelState.IDLE)
        self._stop = False

    @workflow.query
    def status(self) -> lv.ChannelStatus:
        return self._status

    @workflow.signal(name=lv.CHANNEL_REPORT)
    def report(self, report: lv.ChannelReport) -> None:
        if self._status.state in FINAL_STATES:
            return  # a report that crossed the end in flight
        self._status.report = report
        self._set_state(report.state)

    @workflow.signal(name=lv.STOP_CHANNEL)
    def stop(self) -> None:
        self._stop = True

    @workflow.run
    async def run(self, req: lv.ChannelRun) -> lv.ChannelStatus:
        self._status.channel_id = req.channel_id
        workflow.upsert_search_attributes([TITLE_ID_ATTR.value_set(req.channel_id)])
        self._set_state(ChannelState.IDLE)
        pipeline = workflow.start_activity(
            defs.run_live_channel,
            req,
            task_queue=req.live_queue,
            start_to_close_timeout=LONGEST_CHANNEL,
            heartbeat_timeout=HEARTBEAT,
            retry_policy=RETRY,
            cancellation_type=workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
        )
        await workflow.wait_condition(lambda: self._stop or pipeline.done())
        if not pipeline.done():
            pipeline.cancel()
        try:
            result = await pipeline
            self._status.report, reason = result.final, result.reason
            self._status.recorded_s = result.recorded_s
        except ActivityError as err:
            reason = "stopped" if self._stop else f"the pipeline failed: {err.cause or err}"
        self._status.reason = reason
        self._set_state(ChannelState.ENDED)
        return self._status

    def _set_state(self, state: str) -> None:
        if state != self._status.state or state == ChannelState.IDLE:
            self._status.state = state
            workflow.upsert_search_attributes([STATE_ATTR.value_set(state)])
