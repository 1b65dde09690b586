"""What a TitleWorkflow run knows, and the bookkeeping its status query shows.

``TitleRunState`` holds the run's state (input, lifecycle state, per-stage progress, results
that later stages and the status query read, the decisions signals leave) and the few
methods that move it. The stage groups (``media_stages``, ``approval``, ``encoding``,
``publishing``, ``availability``) build on it through ``calls.ActivityCalls``.
"""

from __future__ import annotations

import asyncio

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    import reelflow.lifecycle.contracts as c
    from reelflow.lifecycle.search_attributes import STAGE_ATTR, STATE_ATTR

STAGES = (
    "ingest",
    "qc",
    "approval",
    "analyse",
    "encode",
    "audio",
    "subtitles",
    "thumbnails",
    "keys",
    "package",
    "publish",
    "live",
)


class TitleRunState:
    def __init__(self) -> None:
        self._input: c.TitleInput | None = None
        self._state = "ingesting"
        self._stage = "ingest"
        self._stages = {name: c.StageState(name=name) for name in STAGES}
        self._qc: c.QCResult | None = None
        self._ladder: c.LadderResult | None = None
        self._extra_ladders: list[c.LadderResult] = []  # AV1_ALONGSIDE
        self._renditions: list[c.RenditionInfo] = []
        self._errors: list[str] = []
        self._decision: tuple[str, str] | None = None  # ("approve"|"reject", actor/reason)
        self._takedown: str | None = None
        self._superseded_by: int | None = None
        self._chunks_done = 0
        self._window: tuple[str | None, str | None] = (None, None)
        self._window_rev = 0
        self._compact = False  # COMPACT_LIFECYCLE, decided at the start of the run
        self._notifications: list[asyncio.Task[None]] = []

    def _set_state(self, state: str) -> None:
        if self._compact and state != self._state:
            workflow.upsert_search_attributes([STATE_ATTR.value_set(state)])
        self._state = state

    def _begin(self, stage: str) -> None:
        self._stage = stage
        self._stages[stage].state = "running"
        workflow.upsert_search_attributes([STAGE_ATTR.value_set(stage)])

    def _done(self, stage: str, detail: str = "") -> None:
        self._stages[stage].state = "done"
        self._stages[stage].progress = 100.0
        self._stages[stage].detail = detail

    def _skip(self, stage: str, detail: str) -> None:
        self._stages[stage].state = "skipped"
        self._stages[stage].detail = detail

    def _fail(self, stage: str, detail: str) -> None:
        self._stages[stage].state = "failed"
        self._stages[stage].detail = detail

    def _skip_rest(self, after: str) -> None:
        for name in STAGES[STAGES.index(after) + 1 :]:
            self._stages[name].state = "skipped"
