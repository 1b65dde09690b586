"""The approval gate: after QC, a title waits for ops when QC warned or its input asks.

The ``approve`` and ``reject`` signals (on ``title.TitleWorkflow``) leave the decision in
``_decision``; ``takedown`` ends the wait too. A decision sent before the gate is kept.
"""

from __future__ import annotations

from temporalio import workflow

from reelflow.workflows.calls import ActivityCalls

with workflow.unsafe.imports_passed_through():
    import reelflow.lifecycle.contracts as c


class ApprovalGate(ActivityCalls):
    async def _approval(self, inp: c.TitleInput, qc: c.QCResult) -> bool:
        """Whether processing goes on: waits for ops when QC warned or the input asks."""
        self._begin("approval")
        if not (qc.warnings or inp.options.require_approval):
            self._done("approval", "passed by itself: no QC warnings")
            await self._event("processing", "processing")
            return True
        self._stages["approval"].state = "waiting"
        await self._event("awaiting_approval", "awaiting_approval", {"warnings": qc.warnings})
        await workflow.wait_condition(
            lambda: self._decision is not None or self._takedown is not None
        )
        if self._takedown is not None:
            self._skip_rest("approval")
            await self._event("taken_down", "taken_down", {"reason": self._takedown})
            await self._notify("taken_down", {"reason": self._takedown})
            return False
        assert self._decision is not None
        verdict, who = self._decision
        if verdict == "reject":
            self._fail("approval", who)
            self._skip_rest("approval")
            await self._event("rejected", "rejected", {"reason": who})
            return False
        await self._event("approved", "processing", {"actor": who})
        self._done("approval", f"approved by {who}")
        return True
