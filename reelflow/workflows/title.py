"""TitleWorkflow: one durable workflow per title version (ids: ``domain.ids.workflow_id``).

Deterministic orchestration only: every effect (files, catalog, clock-dependent work) is an
activity, called through its typed definition in ``lifecycle.activity_defs`` with a
dataclass from ``lifecycle.contracts``; the implementations are never imported here.

This module holds the workflow's interface (the status query, the signals, the run) and the
order of its stage groups; each group lives in its own module: ``media_stages`` (ingest, QC,
audio, subtitles, thumbnails), ``approval`` (the gate), ``encoding`` (ladders and chunks),
``publishing`` (keys, package, publish, supersede), ``availability`` (the window and the
end). ``calls`` calls the activities; ``stages`` keeps the state the status query shows.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

from reelflow.workflows.approval import ApprovalGate
from reelflow.workflows.availability import Availability
from reelflow.workflows.encoding import Encoding
from reelflow.workflows.media_stages import MediaStages
from reelflow.workflows.patches import COMPACT_LIFECYCLE
from reelflow.workflows.publishing import Publishing

# Full module names (``import a.b.c as x``, not ``from a.b import c``): the sandbox puts a
# passed-through module into its own sys.modules only under the name that was imported, and
# the payload converter resolves the dataclasses' type hints through sys.modules.
with workflow.unsafe.imports_passed_through():
    import reelflow.lifecycle.activity_defs as defs
    import reelflow.lifecycle.contracts as c
    from reelflow.domain.ids import InvalidTitleId, check_title_id
    from reelflow.lifecycle.search_attributes import STATE_ATTR, TITLE_ID_ATTR


@workflow.defn(name="TitleWorkflow")
class TitleWorkflow(MediaStages, ApprovalGate, Encoding, Publishing, Availability):
    # ---------------------------------------------------------------- queries & signals
    @workflow.query
    def status(self) -> c.TitleStatus:
        inp = self._input
        return c.TitleStatus(
            title_id=inp.title_id if inp else "",
            version=inp.version if inp else 0,
            state=self._state,
            stage=self._stage,
            stages=list(self._stages.values()),
            qc_summary=self._qc.summary if self._qc else None,
            qc_failures=list(self._qc.failures) if self._qc else [],
            qc_warnings=list(self._qc.warnings) if self._qc else [],
            ladder=(
                [*self._ladder.rungs, *(r for x in self._extra_ladders for r in x.rungs)]
                if self._ladder
                else []
            ),
            renditions=list(self._renditions),
            errors=list(self._errors),
            window_start=self._window[0],
            window_end=self._window[1],
            ladder_metric=self._ladder.metric if self._ladder else None,
        )

    @workflow.signal
    def approve(self, actor: str = "ops") -> None:
        if self._decision is None:
            self._decision = ("approve", actor)

    @workflow.signal
    def reject(self, reason: str) -> None:
        if self._decision is None:
            self._decision = ("reject", reason or "rejected by ops")

    @workflow.signal
    def takedown(self, reason: str) -> None:
        self._takedown = reason or "taken down by ops"

    @workflow.signal
    def supersede(self, version: int, title_id: str = "") -> None:
        """A newer version of the title is live: this one retires without a gap.

        ``title_id`` names the title the sender belongs to: a legacy id (``-v<N>``) can be
        another title's, and that title's run ignores the signal.
        """
        if title_id and self._input is not None and title_id != self._input.title_id:
            return
        self._superseded_by = version

    @workflow.signal
    def update_window(self, window_start: str | None, window_end: str | None) -> None:
        self._window = (window_start, window_end)
        self._window_rev += 1

    # ---------------------------------------------------------------- run
    @workflow.run
    async def run(self, inp: c.TitleInput) -> c.TitleStatus:
        self._input = inp
        try:
            # Before any command: a run with a good id issues exactly what it did before.
            check_title_id(inp.title_id)
        except InvalidTitleId as exc:
            raise ApplicationError(str(exc), type="InvalidTitleId", non_retryable=True) from None
        if self._window_rev == 0:
            # A signal delivered with the first workflow task runs before this method; an
            # update_window sent right after start must not be overwritten by the input.
            self._window = (inp.availability.window_start, inp.availability.window_end)
        self._compact = workflow.patched(COMPACT_LIFECYCLE)
        attrs = [TITLE_ID_ATTR.value_set(inp.title_id)]
        if self._compact:
            attrs.append(STATE_ATTR.value_set(self._state))
        workflow.upsert_search_attributes(attrs)
        try:
            await self._lifecycle(inp)
        except ActivityError as exc:
            cause = exc.cause
            reason = str(cause) if cause is not None else str(exc)
            self._errors.append(reason)
            self._fail(self._stage, reason[:500])
            await self._event("failed", "failed", {"stage": self._stage, "reason": reason[:2000]})
            if self._compact:
                await self._notifications_sent()
                # A failed lifecycle is a failed run: ops see it as Failed in the UI (a QC
                # failure is an outcome, the run completes). The status query still answers.
                raise ApplicationError(
                    f"{self._stage} failed: {reason[:2000]}", type="TitleFailed", non_retryable=True
                ) from None
        await self._notifications_sent()
        return self.status()

    async def _lifecycle(self, inp: c.TitleInput) -> None:
        await self._control(defs.register_title, inp, summary="register title in catalog")
        await self._event("ingest_started", "ingesting")
        ingest = await self._ingest_master(inp)
        qc = await self._quality_check(inp, ingest)
        if not qc.passed:
            return  # recorded as qc_failed, the rest skipped
        if not await self._approval(inp, qc):
            return  # rejected, or taken down while waiting
        ladders = await self._analyse(inp, ingest, qc)
        await self._encode(inp, ingest, qc, ladders)
        thumbs = await self._audio_subtitles_thumbnails(inp, ingest, qc)
        if self._takedown is not None:
            await self._retire(inp, "taken_down", self._takedown)
            return
        await self._package_and_publish(inp, ingest, thumbs)

        # ---- availability: durable timers to window start and end, re-armed by signals
        self._begin("live")
        final, reason = await self._live(inp)
        await self._retire(inp, final, reason)
