"""TitleWorkflow: one durable workflow per title version (ids: ``workflow_id``).

Deterministic orchestration only: every effect (files, catalog, clock-dependent work) is an
activity, called through its typed definition in ``activity_defs`` with a dataclass from
``contracts``; the implementations are never imported here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

# Full module names (``import a.b.c as x``, not ``from a.b import c``): the sandbox puts a
# passed-through module into its own sys.modules only under the name that was imported, and
# the payload converter resolves the dataclasses' type hints through sys.modules.
with workflow.unsafe.imports_passed_through():
    import reelflow.lifecycle.activity_defs as defs
    import reelflow.lifecycle.contracts as c
    from reelflow.domain.ids import InvalidTitleId, check_title_id, legacy_workflow_id, workflow_id
    from reelflow.domain.track_classes import TrackClass, track_class_for_height
    from reelflow.lifecycle.search_attributes import STAGE_ATTR, STATE_ATTR, TITLE_ID_ATTR

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

# The workflow changes of issue 11, one patch for the whole run (workflow.patched memoizes
# it: a run that started before them keeps the old commands to its end). Under it: history
# that does not grow with the title (file lists, the chunk plan and the chunk parts travel
# by key), the ReelflowState search attribute, a lifecycle failure fails the run, studio
# notifications off the critical path, the collision-free ids of older versions.
# docs/operations.md "Changing TitleWorkflow safely" says when it may be deprecated.
COMPACT_LIFECYCLE = "compact-lifecycle-11"

# Issue 14: a title with ``options.extra_codecs`` gets a ladder per extra codec (analysed,
# encoded and joined after the main one) in the same package. Asked only when the option is
# set, so runs without it (every recorded history) keep their commands unchanged.
AV1_ALONGSIDE = "av1-alongside-14"

A = TypeVar("A")  # an activity's request
R = TypeVar("R")  # an activity's result


@workflow.defn(name="TitleWorkflow")
class TitleWorkflow:
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
            self._stages[self._stage].state = "failed"
            self._stages[self._stage].detail = reason[:500]
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

    # The stage groups below each run their stages in order and hand on what later stages
    # need. Their commands, in order, are the workflow's history: a change here that is not
    # a pure move breaks replay of running titles (tests/workflows/test_title_workflow_replay).

    async def _ingest_master(self, inp: c.TitleInput) -> c.IngestResult:
        self._begin("ingest")
        ingest = await self._media(
            defs.ingest_master,
            c.IngestRequest(
                inp.title_id, inp.version, inp.source, inp.studio_id is not None, inp.studio_id
            ),
            timeout=timedelta(hours=6),
        )
        self._done("ingest", f"{ingest.size_bytes} bytes, sha256 {ingest.sha256[:12]}")
        await self._event("ingested", "qc", {"sha256": ingest.sha256, "size": ingest.size_bytes})
        await self._notify("ingested", {"sha256": ingest.sha256, "size": ingest.size_bytes})
        return ingest

    async def _quality_check(self, inp: c.TitleInput, ingest: c.IngestResult) -> c.QCResult:
        """The QC report; a failed one is recorded here and ends the title."""
        self._begin("qc")
        qc = await self._media(
            defs.run_qc,
            c.QCRequest(inp.title_id, inp.version, ingest.master_key, ingest.sha256),
            timeout=timedelta(hours=4),
        )
        self._qc = qc
        if not qc.passed:
            self._stages["qc"].state = "failed"
            self._stages["qc"].detail = qc.summary
            for name in STAGES[2:]:
                self._stages[name].state = "skipped"
            await self._event("qc_failed", "qc_failed", {"failures": qc.failures})
            await self._notify("qc_failed", {"failures": qc.failures})
            return qc
        self._done("qc", qc.summary)
        return qc

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
            self._stages["approval"].state = "failed"
            self._stages["approval"].detail = who
            self._skip_rest("approval")
            await self._event("rejected", "rejected", {"reason": who})
            return False
        await self._event("approved", "processing", {"actor": who})
        self._done("approval", f"approved by {who}")
        return True

    def _extra_codecs(self, inp: c.TitleInput) -> list[str]:
        """The codecs whose ladders go beside the main one (AV1_ALONGSIDE)."""
        extra = [x for x in dict.fromkeys(inp.options.extra_codecs) if x != inp.options.codec]
        if not extra or not workflow.patched(AV1_ALONGSIDE):
            return []
        return extra

    async def _analyse(
        self, inp: c.TitleInput, ingest: c.IngestResult, qc: c.QCResult
    ) -> list[c.LadderResult]:
        """The per-title ladder of each codec (the main one first) and the chunk plan."""
        self._begin("analyse")
        ladder = await self._analyse_codec(inp, ingest, qc, inp.options.codec)
        self._ladder = ladder
        for codec in self._extra_codecs(inp):
            extra = await self._analyse_codec(inp, ingest, qc, codec, alongside=True)
            self._extra_ladders.append(extra)
        detail = f"{len(ladder.rungs)} rungs ({ladder.method}, {ladder.metric})"
        for extra in self._extra_ladders:
            codec = extra.rungs[0].codec if extra.rungs else "?"
            detail += f"; {codec}: {len(extra.rungs)} rungs"
        self._done("analyse", detail)
        return [ladder, *self._extra_ladders]

    async def _analyse_codec(
        self,
        inp: c.TitleInput,
        ingest: c.IngestResult,
        qc: c.QCResult,
        codec: str,
        *,
        alongside: bool = False,
    ) -> c.LadderResult:
        return await self._media(
            defs.analyse_ladder,
            c.AnalyseRequest(
                inp.title_id,
                inp.version,
                ingest.master_key,
                ingest.sha256,
                method=inp.options.ladder,
                codec=codec,
                max_kbps=inp.options.max_kbps,
                duration_s=qc.duration_s,
                exclude=qc.black_intervals,
                plan_by_key=self._compact,
                alongside=alongside,
            ),
            timeout=timedelta(hours=4),
        )

    @staticmethod
    def _plan_by_key(ladder: c.LadderResult) -> bool:
        # A plan kept by key (compact path) arrives as its length only.
        return not ladder.chunks and bool(ladder.chunk_plan_key)

    @classmethod
    def _chunk_total(cls, ladder: c.LadderResult) -> int:
        return ladder.chunk_count if cls._plan_by_key(ladder) else len(ladder.chunks)

    async def _encode(
        self,
        inp: c.TitleInput,
        ingest: c.IngestResult,
        qc: c.QCResult,
        ladders: list[c.LadderResult],
    ) -> None:
        """Each ladder in turn (the main one first): one activity per chunk, every rung
        from one decode, then a join per rung."""
        self._begin("encode")
        all_chunks = sum(self._chunk_total(ladder) for ladder in ladders)
        details = [await self._encode_ladder(inp, ingest, qc, x, all_chunks) for x in ladders]
        self._done("encode", details[0] + "".join(f"; {d}" for d in details[1:]))

    async def _encode_ladder(
        self,
        inp: c.TitleInput,
        ingest: c.IngestResult,
        qc: c.QCResult,
        ladder: c.LadderResult,
        all_chunks: int,
    ) -> str:
        """One ladder's chunks and joins; the stage detail of that ladder."""
        by_key = self._plan_by_key(ladder)
        total = self._chunk_total(ladder)
        plan: list[c.ChunkSpec | None] = [None] * total if by_key else list(ladder.chunks)
        # The main ladder's commands stay as recorded; an extra ladder's name their codec.
        codec = f"{ladder.rungs[0].codec}: " if ladder is not self._ladder and ladder.rungs else ""

        async def encode(index: int, chunk: c.ChunkSpec | None) -> c.EncodeChunkResult:
            result = await self._media(
                defs.encode_chunk,
                c.EncodeChunkRequest(
                    inp.title_id,
                    inp.version,
                    ingest.master_key,
                    ingest.sha256,
                    ladder.ladder_key,
                    chunk,
                    qc.fps,
                    {**qc.adaptations, "tone_map": inp.options.tone_map},
                    chunk_index=index,
                    chunk_plan_key=ladder.chunk_plan_key if by_key else "",
                ),
                timeout=timedelta(hours=4),
                summary=f"{codec}chunk {index + 1}/{total}",
            )
            self._chunks_done += 1
            # Joining takes the last slice of the stage's progress.
            self._stages["encode"].progress = round(90.0 * self._chunks_done / all_chunks, 1)
            return result

        chunk_results = sorted(
            await asyncio.gather(*(encode(ch.index if ch else i, ch) for i, ch in enumerate(plan))),
            key=lambda r: r.index,
        )
        prefixes = {r.parts_prefix for r in chunk_results}
        if self._compact and len(prefixes) == 1 and "" not in prefixes:
            # The join finds every part under the one prefix: no list that grows per chunk.
            join = c.JoinRequest(
                inp.title_id,
                inp.version,
                ingest.sha256,
                ladder.ladder_key,
                [],
                qc.duration_s,
                qc.fps,
                parts_prefix=prefixes.pop(),
                chunk_count=total,
            )
        else:  # a run from before COMPACT_LIFECYCLE, or chunks from an older worker
            join = c.JoinRequest(
                inp.title_id,
                inp.version,
                ingest.sha256,
                ladder.ladder_key,
                chunk_results,
                qc.duration_s,
                qc.fps,
            )
        videos = await self._media(defs.join_renditions, join, timeout=timedelta(hours=2))
        self._renditions.extend(videos)
        # Chunks per worker: one entry per worker, so it stays small for any length.
        per_worker: dict[str, int] = {}
        for r in chunk_results:
            if r.worker:
                per_worker[r.worker] = per_worker.get(r.worker, 0) + 1
        spread = ", ".join(f"{w} {n}" for w, n in sorted(per_worker.items()))
        return f"{codec}{total} chunk(s) x {len(ladder.rungs)} rungs" + (
            f"; by worker: {spread}" if spread else ""
        )

    async def _audio_subtitles_thumbnails(
        self, inp: c.TitleInput, ingest: c.IngestResult, qc: c.QCResult
    ) -> c.ThumbnailsResult:
        """The other renditions and the images; the packager takes all of them."""
        self._begin("audio")
        if qc.has_audio:
            audio = await self._media(
                defs.encode_audio,
                c.AudioRequest(
                    inp.title_id,
                    inp.version,
                    ingest.master_key,
                    ingest.sha256,
                    normalize=bool(qc.adaptations.get("normalize_loudness")),
                ),
                timeout=timedelta(hours=2),
            )
            self._renditions.extend(audio)
            self._done("audio", ", ".join(f"{a.language} {a.channels}ch" for a in audio))
        else:
            self._stages["audio"].state = "skipped"
            self._stages["audio"].detail = "source has no audio"

        self._begin("subtitles")
        if inp.subtitles:
            subs = await self._media(
                defs.prepare_subtitles,
                c.SubtitlesRequest(
                    inp.title_id, inp.version, inp.subtitles, inp.studio_id is not None
                ),
                timeout=timedelta(minutes=10),
            )
            self._renditions.extend(subs)
            self._done("subtitles", ", ".join(s.language or "?" for s in subs))
        else:
            self._stages["subtitles"].state = "skipped"
            self._stages["subtitles"].detail = "no subtitles delivered"

        # Thumbnails, sprites, artwork.
        self._begin("thumbnails")
        thumbs = await self._media(
            defs.make_thumbnails,
            c.ThumbnailsRequest(
                inp.title_id, inp.version, ingest.master_key, ingest.sha256, qc.duration_s
            ),
            timeout=timedelta(hours=1),
        )
        self._done("thumbnails", f"{len(thumbs.sprite_keys)} sprite sheet(s)")
        await self._event(
            "renditions_ready",
            "packaging",
            {"renditions": [r.name for r in self._renditions], "thumbnails": thumbs.vtt_key},
        )
        return thumbs

    async def _package_and_publish(
        self, inp: c.TitleInput, ingest: c.IngestResult, thumbs: c.ThumbnailsResult
    ) -> None:
        """Content keys, package + verify (media queue), publish to origin, retire older."""
        kids = await self._content_keys(inp)

        self._begin("package")
        pkg = await self._media(
            defs.package_title,
            c.PackageRequest(
                inp.title_id,
                inp.version,
                ingest.sha256,
                list(self._renditions),
                thumbs.vtt_key,
                kids,
                original_language=inp.options.original_language,
                files_by_key=self._compact,
            ),
            timeout=timedelta(hours=2),
        )
        self._done("package", f"{', '.join(pkg.drm_systems) or 'clear'}; {pkg.verify_summary}")

        self._begin("publish")
        await self._control(
            defs.publish_title,
            c.PublishRequest(
                inp.title_id, inp.version, pkg, thumbs.poster_keys, thumbs.backdrop_keys
            ),
            timeout=timedelta(minutes=30),
        )
        self._done("publish", pkg.package_prefix)
        await self._event("published", "published", {"drm": pkg.drm_systems})
        await self._notify("published", {"drm": pkg.drm_systems})
        await self._supersede_older(inp)

    async def _content_keys(self, inp: c.TitleInput) -> dict[str, str]:
        """KID per track class ({} = publish clear); the keys stay sealed in the catalog."""
        self._begin("keys")
        if not inp.options.drm:
            self._stages["keys"].state = "skipped"
            self._stages["keys"].detail = "published clear (no DRM) by option"
            return {}
        keys = await self._control(
            defs.generate_keys,
            c.KeysRequest(inp.title_id, inp.version, self._key_classes()),
        )
        self._done("keys", ", ".join(sorted(keys.kids)))
        return keys.kids

    def _key_classes(self) -> list[str]:
        classes: set[str] = set()
        for r in self._renditions:
            if r.kind == "audio":
                classes.add(TrackClass.AUDIO)
            elif r.kind == "video":
                # An unknown height counts as SD, the class every plan may receive.
                classes.add(track_class_for_height(r.height or 1))
        return sorted(classes)

    async def _live(self, inp: c.TitleInput) -> tuple[str, str]:
        seen_rev = 0
        opened = False  # window_opened recorded for the current window
        while True:
            if self._takedown is not None:
                return "taken_down", self._takedown
            if self._superseded_by is not None:
                return "superseded", f"replaced by version {self._superseded_by}"
            if seen_rev != self._window_rev:
                seen_rev = self._window_rev
                opened = False
                await self._control(
                    defs.update_availability,
                    c.AvailabilityUpdate(
                        inp.title_id, self._window[0], self._window[1], version=inp.version
                    ),
                )
                await self._event(
                    "window_changed",
                    "published",
                    {"start": self._window[0], "end": self._window[1], "rev": seen_rev},
                    dedupe_suffix=str(seen_rev),
                )
            start = c.parse_instant(self._window[0])
            end = c.parse_instant(self._window[1])
            now = workflow.now()
            if end is not None and end <= now:
                return "expired", "availability window ended"
            # The next moment that matters: the window's start (once), then its end.
            target, is_start = end, False
            if start is not None and start > now and not opened:
                target, is_start = start, True
            visible = f"{self._window[0] or 'now'} until {self._window[1] or 'open-ended'}"
            self._stages["live"].detail = f"visible from {visible}"
            rev = seen_rev
            try:
                await workflow.wait_condition(
                    lambda rev=rev: (  # type: ignore[misc]
                        self._takedown is not None
                        or self._superseded_by is not None
                        or self._window_rev != rev
                    ),
                    timeout=(target - now) if target is not None else None,
                )
            except TimeoutError:
                if is_start:
                    opened = True
                    await self._event(
                        "window_opened",
                        "published",
                        {"start": self._window[0]},
                        dedupe_suffix=f"{seen_rev}",
                    )

    async def _supersede_older(self, inp: c.TitleInput) -> None:
        # Publish already moved origin to this version and revoked the older keys; the older
        # workflows only need to stop waiting on their windows.
        for older in range(1, inp.version):
            if not self._compact:  # the ids and the signal this run's history holds
                await self._signal_supersede(
                    legacy_workflow_id(inp.title_id, older) or workflow_id(inp.title_id),
                    [inp.version],
                )
                continue
            ids = [workflow_id(inp.title_id, older), legacy_workflow_id(inp.title_id, older)]
            for wf_id in ids:
                # A version started before the "@v" ids still runs under its legacy id; the
                # title id in the signal keeps another title's run with that id out of it.
                if wf_id and await self._signal_supersede(wf_id, [inp.version, inp.title_id]):
                    break

    async def _signal_supersede(self, wf_id: str, args: list[Any]) -> bool:
        handle = workflow.get_external_workflow_handle(wf_id)
        try:
            await handle.signal("supersede", args=args)
        except Exception:  # that workflow already ended (or never ran)
            workflow.logger.info("%s not running", wf_id)
            return False
        return True

    async def _retire(self, inp: c.TitleInput, final: str, reason: str) -> None:
        if self._stage != "live":
            self._begin("live")
        if final == "superseded":
            self._set_state("superseded")
            self._done("live", reason)
            # The title row now belongs to the newer version: record without moving its state.
            await self._event("superseded", None, {"reason": reason})
            return
        await self._control(
            defs.expire_title,
            c.ExpireRequest(
                inp.title_id, inp.version, final, reason, purge=inp.options.purge_on_expire
            ),
            timeout=timedelta(minutes=30),
        )
        self._done("live", reason)
        await self._event(final, final, {"reason": reason, "at": workflow.now().isoformat()})
        await self._notify(final, {"reason": reason})

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

    # ---------------------------------------------------------------- helpers
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

    def _skip_rest(self, after: str) -> None:
        for name in STAGES[STAGES.index(after) + 1 :]:
            self._stages[name].state = "skipped"

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

    # Activities are called through their typed definitions (activity_defs): the result's
    # type comes from the definition, and mypy checks the argument against it.
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
