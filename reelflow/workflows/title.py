"""TitleWorkflow: one durable workflow per title version, id ``title-<title_id>``.

Deterministic orchestration only: every effect (files, catalog, clock-dependent work) is an
activity called by name with a dataclass from ``contracts``.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from reelflow.workflows import contracts as c
    from reelflow.workflows.search_attributes import STAGE_ATTR, TITLE_ID_ATTR

STAGES = ("ingest", "qc", "approval", "analyse", "encode", "audio", "subtitles", "thumbnails")

# Errors that no retry can fix: the input itself is bad.
NON_RETRYABLE = ["BadSource", "BadMedia", "QCFailed", "BadSubtitles", "SourceTooLarge"]
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


def workflow_id(title_id: str) -> str:
    return f"title-{title_id}"


@workflow.defn(name="TitleWorkflow")
class TitleWorkflow:
    def __init__(self) -> None:
        self._input: c.TitleInput | None = None
        self._state = "ingesting"
        self._stage = "ingest"
        self._stages = {name: c.StageState(name=name) for name in STAGES}
        self._qc: c.QCResult | None = None
        self._ladder: c.LadderResult | None = None
        self._renditions: list[c.RenditionInfo] = []
        self._errors: list[str] = []
        self._decision: tuple[str, str] | None = None  # ("approve"|"reject", actor/reason)
        self._takedown: str | None = None
        self._chunks_done = 0
        self._window: tuple[str | None, str | None] = (None, None)

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
            ladder=list(self._ladder.rungs) if self._ladder else [],
            renditions=list(self._renditions),
            errors=list(self._errors),
            window_start=self._window[0],
            window_end=self._window[1],
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
    def update_window(self, window_start: str | None, window_end: str | None) -> None:
        self._window = (window_start, window_end)

    # ---------------------------------------------------------------- run
    @workflow.run
    async def run(self, inp: c.TitleInput) -> c.TitleStatus:
        self._input = inp
        self._window = (inp.availability.window_start, inp.availability.window_end)
        workflow.upsert_search_attributes([TITLE_ID_ATTR.value_set(inp.title_id)])
        try:
            await self._lifecycle(inp)
        except ActivityError as exc:
            cause = exc.cause
            reason = str(cause) if cause is not None else str(exc)
            self._errors.append(reason)
            self._stages[self._stage].state = "failed"
            self._stages[self._stage].detail = reason[:500]
            await self._event("failed", "failed", {"stage": self._stage, "reason": reason[:2000]})
        return self.status()

    async def _lifecycle(self, inp: c.TitleInput) -> None:
        await self._control(
            c.REGISTER_TITLE, inp, result_type=type(None), summary="register title in catalog"
        )
        await self._event("ingest_started", "ingesting")

        # ---- ingest
        self._begin("ingest")
        ingest: c.IngestResult = await self._media(
            c.INGEST_MASTER,
            c.IngestRequest(inp.title_id, inp.version, inp.source),
            c.IngestResult,
            timeout=timedelta(hours=6),
        )
        self._done("ingest", f"{ingest.size_bytes} bytes, sha256 {ingest.sha256[:12]}")
        await self._event("ingested", "qc", {"sha256": ingest.sha256, "size": ingest.size_bytes})

        # ---- QC
        self._begin("qc")
        qc: c.QCResult = await self._media(
            c.RUN_QC,
            c.QCRequest(inp.title_id, inp.version, ingest.master_key, ingest.sha256),
            c.QCResult,
            timeout=timedelta(hours=4),
        )
        self._qc = qc
        if not qc.passed:
            self._stages["qc"].state = "failed"
            self._stages["qc"].detail = qc.summary
            for name in STAGES[2:]:
                self._stages[name].state = "skipped"
            await self._event("qc_failed", "qc_failed", {"failures": qc.failures})
            return
        self._done("qc", qc.summary)

        # ---- approval gate
        self._begin("approval")
        if qc.warnings or inp.options.require_approval:
            self._stages["approval"].state = "waiting"
            await self._event("awaiting_approval", "awaiting_approval", {"warnings": qc.warnings})
            await workflow.wait_condition(
                lambda: self._decision is not None or self._takedown is not None
            )
            if self._takedown is not None:
                await self._event("taken_down", "taken_down", {"reason": self._takedown})
                self._skip_rest("approval")
                return
            assert self._decision is not None
            verdict, who = self._decision
            if verdict == "reject":
                self._stages["approval"].state = "failed"
                self._stages["approval"].detail = who
                self._skip_rest("approval")
                await self._event("rejected", "rejected", {"reason": who})
                return
            await self._event("approved", "processing", {"actor": who})
            self._done("approval", f"approved by {who}")
        else:
            self._done("approval", "passed by itself: no QC warnings")
            await self._event("processing", "processing")

        # ---- analyse (per-title ladder and chunk plan)
        self._begin("analyse")
        ladder: c.LadderResult = await self._media(
            c.ANALYSE_LADDER,
            c.AnalyseRequest(
                inp.title_id,
                inp.version,
                ingest.master_key,
                ingest.sha256,
                method=inp.options.ladder,
                codec=inp.options.codec,
                max_kbps=inp.options.max_kbps,
                duration_s=qc.duration_s,
                exclude=qc.black_intervals,
            ),
            c.LadderResult,
            timeout=timedelta(hours=4),
        )
        self._ladder = ladder
        self._done("analyse", f"{len(ladder.rungs)} rungs ({ladder.method}, {ladder.metric})")

        # ---- encode: one activity per chunk, every rung from one decode, then join
        self._begin("encode")
        total = len(ladder.chunks)

        async def encode(chunk: c.ChunkSpec) -> c.EncodeChunkResult:
            result: c.EncodeChunkResult = await self._media(
                c.ENCODE_CHUNK,
                c.EncodeChunkRequest(
                    inp.title_id,
                    inp.version,
                    ingest.master_key,
                    ingest.sha256,
                    ladder.ladder_key,
                    chunk,
                    qc.fps,
                    qc.adaptations,
                ),
                c.EncodeChunkResult,
                timeout=timedelta(hours=4),
                summary=f"chunk {chunk.index + 1}/{total}",
            )
            self._chunks_done += 1
            # Joining takes the last slice of the stage's progress.
            self._stages["encode"].progress = round(90.0 * self._chunks_done / total, 1)
            return result

        chunk_results = await asyncio.gather(*(encode(ch) for ch in ladder.chunks))
        videos: list[c.RenditionInfo] = await self._media(
            c.JOIN_RENDITIONS,
            c.JoinRequest(
                inp.title_id,
                inp.version,
                ingest.sha256,
                ladder.ladder_key,
                sorted(chunk_results, key=lambda r: r.index),
                qc.duration_s,
                qc.fps,
            ),
            list[c.RenditionInfo],
            timeout=timedelta(hours=2),
        )
        self._renditions.extend(videos)
        self._done("encode", f"{total} chunk(s) x {len(ladder.rungs)} rungs")

        # ---- audio
        self._begin("audio")
        if qc.has_audio:
            audio: list[c.RenditionInfo] = await self._media(
                c.ENCODE_AUDIO,
                c.AudioRequest(
                    inp.title_id,
                    inp.version,
                    ingest.master_key,
                    ingest.sha256,
                    normalize=bool(qc.adaptations.get("normalize_loudness")),
                ),
                list[c.RenditionInfo],
                timeout=timedelta(hours=2),
            )
            self._renditions.extend(audio)
            self._done("audio", ", ".join(f"{a.language} {a.channels}ch" for a in audio))
        else:
            self._stages["audio"].state = "skipped"
            self._stages["audio"].detail = "source has no audio"

        # ---- subtitles
        self._begin("subtitles")
        if inp.subtitles:
            subs: list[c.RenditionInfo] = await self._media(
                c.PREPARE_SUBTITLES,
                c.SubtitlesRequest(inp.title_id, inp.version, inp.subtitles),
                list[c.RenditionInfo],
                timeout=timedelta(minutes=10),
            )
            self._renditions.extend(subs)
            self._done("subtitles", ", ".join(s.language or "?" for s in subs))
        else:
            self._stages["subtitles"].state = "skipped"
            self._stages["subtitles"].detail = "no subtitles delivered"

        # ---- thumbnails, sprites, artwork
        self._begin("thumbnails")
        thumbs: c.ThumbnailsResult = await self._media(
            c.MAKE_THUMBNAILS,
            c.ThumbnailsRequest(
                inp.title_id, inp.version, ingest.master_key, ingest.sha256, qc.duration_s
            ),
            c.ThumbnailsResult,
            timeout=timedelta(hours=1),
        )
        self._done("thumbnails", f"{len(thumbs.sprite_keys)} sprite sheet(s)")
        await self._event(
            "renditions_ready",
            "renditions_ready",
            {"renditions": [r.name for r in self._renditions], "thumbnails": thumbs.vtt_key},
        )

    # ---------------------------------------------------------------- helpers
    def _begin(self, stage: str) -> None:
        self._stage = stage
        self._stages[stage].state = "running"
        workflow.upsert_search_attributes([STAGE_ATTR.value_set(stage)])

    def _done(self, stage: str, detail: str = "") -> None:
        self._stages[stage].state = "done"
        self._stages[stage].progress = 100.0
        self._stages[stage].detail = detail

    def _skip_rest(self, after: str) -> None:
        for name in STAGES[STAGES.index(after) + 1 :]:
            self._stages[name].state = "skipped"

    async def _event(self, event: str, state: str, detail: dict[str, Any] | None = None) -> None:
        inp = self._input
        assert inp is not None
        self._state = state
        await self._control(
            c.RECORD_EVENT,
            c.EventRequest(
                title_id=inp.title_id,
                version=inp.version,
                event=event,
                actor="workflow",
                state=state,
                detail=detail or {},
                # One row per transition even if the activity is retried.
                dedupe_key=f"{workflow.info().workflow_id}:{workflow.info().run_id}:{event}",
            ),
            result_type=bool,
            summary=event,
        )

    async def _control(
        self, name: str, arg: Any, *, result_type: Any, summary: str | None = None
    ) -> Any:
        return await workflow.execute_activity(
            name,
            arg,
            result_type=result_type,
            start_to_close_timeout=timedelta(seconds=60),
            retry_policy=CONTROL_RETRY,
            summary=summary,
        )

    async def _media(
        self,
        name: str,
        arg: Any,
        result_type: Any,
        *,
        timeout: timedelta,
        summary: str | None = None,
    ) -> Any:
        return await workflow.execute_activity(
            name,
            arg,
            result_type=result_type,
            task_queue=self._input.media_queue if self._input else None,
            start_to_close_timeout=timeout,
            heartbeat_timeout=timedelta(seconds=30),
            retry_policy=MEDIA_RETRY,
            summary=summary,
        )


def raise_if_failed(status: c.TitleStatus) -> None:
    if status.errors:
        raise ApplicationError("; ".join(status.errors), type="TitleFailed")
