"""Orchestration tests of TitleWorkflow on Temporal's time-skipping test server.

These use stand-in activities registered under the real activity names from
``contracts`` (RECORD_EVENT, REGISTER_TITLE, INGEST_MASTER, ...): they check the
workflow's own logic (approval gate, signals, status query, fan-out, retries, failure
states, event recording) without ffmpeg or a catalog. The real activities are covered by
tests/activities and by the end-to-end tests on the dev server
(test_title_lifecycle_dev_server.py, tests/workers/test_media_worker_sigkill.py).
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio import activity
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from reelflow.domain.ids import workflow_id
from reelflow.lifecycle import contracts as c
from reelflow.lifecycle.search_attributes import SEARCH_ATTRIBUTES, STATE_ATTR
from reelflow.workflows.client import HistorySize, find_title_run, history_size
from reelflow.workflows.stages import STAGES
from reelflow.workflows.title import TitleWorkflow

# Where a title that got through part 1 ends with the window above (part 2 stand-ins).
FINISHED = "expired"
RUNGS = [
    c.RungSpec("360p", 640, 360, 1000, "h264"),
    c.RungSpec("240p", 426, 240, 400, "h264"),
]


@pytest.fixture
async def ts_env(time_skipping_env: WorkflowEnvironment) -> WorkflowEnvironment:
    """The time-skipping server with reelflow's search attributes defined.

    The workflow upserts them, and the test server rejects undefined ones; it has no
    ListSearchAttributes, so add them and accept "already exists" from an earlier test.
    """
    request = AddSearchAttributesRequest(
        namespace=time_skipping_env.client.namespace,
        search_attributes={
            key.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD for key in SEARCH_ATTRIBUTES
        },
    )
    try:
        await time_skipping_env.client.operator_service.add_search_attributes(request)
    except RPCError as exc:
        if "already exists" not in str(exc):
            raise
    return time_skipping_env


def rungs_of(ladder_key: str, base: list[c.RungSpec] = RUNGS) -> list[c.RungSpec]:
    """The stand-in ladder behind a key: ``base`` (RUNGS), or (``l-<codec>.json``) those
    rungs in that codec."""
    codec = ladder_key.rsplit("/", 1)[-1].removeprefix("l").removesuffix(".json").lstrip("-")
    if not codec:
        return list(base)
    return [c.RungSpec(f"{codec}_{r.name}", r.width, r.height, r.bitrate_kbps, codec) for r in base]


@dataclass
class StandIns:
    """Stand-in activities with the real names; they record every call they get."""

    qc_passed: bool = True
    qc_warnings: list[str] = field(default_factory=list)
    chunks: int = 1
    # Segments per rendition: the package's file list has one entry per segment and track.
    segments: int = 10
    # "ok" | "fail": the notify activity always fails (Redis down), retryable
    notify_mode: str = "ok"
    # "ok" | "transient_once" (first attempt of chunk 1 fails, retryable) | "bad_media"
    encode_mode: str = "ok"
    # Set to hold every encode_chunk call until the test releases its chunk index.
    hold_encode: bool = False
    calls: Counter[str] = field(default_factory=Counter)
    events: list[c.EventRequest] = field(default_factory=list)
    encode_attempts: list[tuple[int, int]] = field(default_factory=list)  # (chunk, attempt)
    releases: dict[int, asyncio.Event] = field(default_factory=dict)
    windows: list[tuple[str | None, str | None]] = field(default_factory=list)
    # What travelled through history, for the assertions on the compact path.
    join_requests: list[c.JoinRequest] = field(default_factory=list)
    published: list[c.PackageInfo] = field(default_factory=list)
    analyse_codecs: list[str] = field(default_factory=list)
    package_requests: list[c.PackageRequest] = field(default_factory=list)
    # The ladder the stand-ins encode, and the key classes the run asked for.
    rungs: list[c.RungSpec] = field(default_factory=lambda: list(RUNGS))
    keys_asked: list[list[str]] = field(default_factory=list)

    def release(self, index: int) -> None:
        self.releases.setdefault(index, asyncio.Event()).set()

    def activities(self) -> list[Callable[..., Any]]:
        @activity.defn(name=c.REGISTER_TITLE)
        async def register_title(inp: c.TitleInput) -> None:
            self.calls[c.REGISTER_TITLE] += 1

        @activity.defn(name=c.RECORD_EVENT)
        async def record_event(req: c.EventRequest) -> bool:
            self.calls[c.RECORD_EVENT] += 1
            self.events.append(req)
            return True

        @activity.defn(name=c.INGEST_MASTER)
        async def ingest_master(req: c.IngestRequest) -> c.IngestResult:
            self.calls[c.INGEST_MASTER] += 1
            return c.IngestResult(f"masters/{req.title_id}/abc", "ab" * 32, 1234, False)

        @activity.defn(name=c.RUN_QC)
        async def run_qc(req: c.QCRequest) -> c.QCResult:
            self.calls[c.RUN_QC] += 1
            failures = [] if self.qc_passed else ["probe: not a media file"]
            return c.QCResult(
                passed=self.qc_passed,
                summary="pass" if self.qc_passed else "fail: probe",
                failures=failures,
                warnings=list(self.qc_warnings),
                report_key=f"qc/{req.title_id}/report.json",
                adaptations={},
                duration_s=6.0 * self.chunks,
                width=640,
                height=360,
                fps=24.0,
                has_audio=True,
            )

        @activity.defn(name=c.ANALYSE_LADDER)
        async def analyse_ladder(req: c.AnalyseRequest) -> c.LadderResult:
            self.calls[c.ANALYSE_LADDER] += 1
            self.analyse_codecs.append(req.codec)
            plan = [c.ChunkSpec(i, 6.0 * i, 6.0) for i in range(self.chunks)]
            suffix = "" if req.codec == "h264" else f"-{req.codec}"
            return c.LadderResult(
                ladder_key=f"ladders/{req.title_id}/l{suffix}.json",
                method=req.method,
                metric=None,
                rungs=rungs_of(f"l{suffix}.json", self.rungs),
                # As the real activity: a plan asked for by key stays in the store.
                chunks=[] if req.plan_by_key else plan,
                chunk_plan_key=f"ladders/{req.title_id}/l-chunks.json" if req.plan_by_key else "",
                chunk_count=len(plan),
            )

        @activity.defn(name=c.ENCODE_CHUNK)
        async def encode_chunk(req: c.EncodeChunkRequest) -> c.EncodeChunkResult:
            self.calls[c.ENCODE_CHUNK] += 1
            index = req.chunk.index if req.chunk else req.chunk_index
            attempt = activity.info().attempt
            self.encode_attempts.append((index, attempt))
            if self.encode_mode == "bad_media":
                raise ApplicationError(
                    f"chunk {index}: moov atom not found", type="BadMedia", non_retryable=True
                )
            if self.encode_mode == "transient_once" and index == 1 and attempt == 1:
                raise ApplicationError("ffmpeg was killed", type="FFmpegError")
            if self.hold_encode:
                await self.releases.setdefault(index, asyncio.Event()).wait()
            prefix = f"renditions/{req.title_id}/abc"
            parts = {
                r.name: f"{prefix}/chunks/{index:05d}/{r.name}.mp4"
                for r in rungs_of(req.ladder_key, self.rungs)
            }
            return c.EncodeChunkResult(index, parts, False, parts_prefix=prefix)

        @activity.defn(name=c.JOIN_RENDITIONS)
        async def join_renditions(req: c.JoinRequest) -> list[c.RenditionInfo]:
            self.calls[c.JOIN_RENDITIONS] += 1
            self.join_requests.append(req)
            indexes = [r.index for r in req.chunk_results] or list(range(req.chunk_count))
            assert indexes == list(range(self.chunks))
            return [  # with its size, as the real join records it
                c.RenditionInfo(
                    r.name,
                    "video",
                    f"renditions/{req.title_id}/{r.name}.mp4",
                    codec=r.codec,
                    width=r.width,
                    height=r.height,
                )
                for r in rungs_of(req.ladder_key, self.rungs)
            ]

        @activity.defn(name=c.ENCODE_AUDIO)
        async def encode_audio(req: c.AudioRequest) -> list[c.RenditionInfo]:
            self.calls[c.ENCODE_AUDIO] += 1
            return [c.RenditionInfo("aac-en", "audio", "a.mp4", language="en", channels=2)]

        @activity.defn(name=c.PREPARE_SUBTITLES)
        async def prepare_subtitles(req: c.SubtitlesRequest) -> list[c.RenditionInfo]:
            self.calls[c.PREPARE_SUBTITLES] += 1
            return []

        @activity.defn(name=c.MAKE_THUMBNAILS)
        async def make_thumbnails(req: c.ThumbnailsRequest) -> c.ThumbnailsResult:
            self.calls[c.MAKE_THUMBNAILS] += 1
            return c.ThumbnailsResult("t.vtt", ["s1.jpg"], ["p.jpg"], ["b.jpg"], 2.0)

        return [
            register_title,
            record_event,
            ingest_master,
            run_qc,
            analyse_ladder,
            encode_chunk,
            join_renditions,
            encode_audio,
            prepare_subtitles,
            make_thumbnails,
            *self._part_two(),
        ]

    def _part_two(self) -> list[Callable[..., Any]]:
        """Keys, packaging, publish, expiry, notifications: only counted here."""

        @activity.defn(name=c.GENERATE_KEYS)
        async def generate_keys(req: c.KeysRequest) -> c.KeysResult:
            self.calls[c.GENERATE_KEYS] += 1
            self.keys_asked.append(list(req.classes))
            return c.KeysResult({cls: "00" * 16 for cls in req.classes})

        @activity.defn(name=c.PACKAGE_TITLE)
        async def package_title(req: c.PackageRequest) -> c.PackageInfo:
            self.calls[c.PACKAGE_TITLE] += 1
            self.package_requests.append(req)
            # One file per segment of each track, named as Shaka names them.
            files = ["manifest.mpd", "master.m3u8"] + [
                f"{r.name}/seg_{n:05d}.m4s" for r in req.renditions for n in range(self.segments)
            ]
            return c.PackageInfo(
                "packages/x",
                "m.mpd",
                "m.m3u8",
                [] if req.files_by_key else files,
                [],
                req.kids,
                [],
                "ok",
                files_key="packages/x/package.json",
                file_count=len(files),
            )

        @activity.defn(name=c.PUBLISH_TITLE)
        async def publish_title(req: c.PublishRequest) -> c.PublishResult:
            self.calls[c.PUBLISH_TITLE] += 1
            self.published.append(req.package)
            return c.PublishResult("origin/x", True)

        @activity.defn(name=c.UPDATE_AVAILABILITY)
        async def update_availability(req: c.AvailabilityUpdate) -> None:
            self.calls[c.UPDATE_AVAILABILITY] += 1
            self.windows.append((req.window_start, req.window_end))

        @activity.defn(name=c.EXPIRE_TITLE)
        async def expire_title(req: c.ExpireRequest) -> None:
            self.calls[c.EXPIRE_TITLE] += 1

        @activity.defn(name=c.NOTIFY_STUDIO)
        async def notify_studio(req: c.NotifyRequest) -> str | None:
            self.calls[c.NOTIFY_STUDIO] += 1
            if self.notify_mode == "fail":
                raise ApplicationError("Error 111 connecting to 127.0.0.1:6379. Refused.")
            return None

        return [
            generate_keys,
            package_title,
            publish_title,
            update_availability,
            expire_title,
            notify_studio,
        ]

    def event_names(self) -> list[str]:
        return [e.event for e in self.events]


@asynccontextmanager
async def started(
    env: WorkflowEnvironment,
    fakes: StandIns,
    *,
    require_approval: bool = False,
    availability: c.AvailabilitySpec | None = None,
    title_id: str | None = None,
    extra_codecs: list[str] | None = None,
) -> AsyncIterator[WorkflowHandle[Any, c.TitleStatus]]:
    """A worker with the stand-ins on a unique queue (control and media alike), and a run."""
    queue = f"orch-{uuid.uuid4().hex[:10]}"
    title_id = title_id or f"t-{uuid.uuid4().hex[:8]}"
    inp = c.TitleInput(
        title_id=title_id,
        source="/masters/film.mov",
        name="Stand-in film",
        options=c.TitleOptions(
            ladder="fixed", require_approval=require_approval, extra_codecs=extra_codecs or []
        ),
        # A window that closes: after publishing, the time-skipping server jumps to its
        # end and the run finishes "expired" instead of waiting forever.
        availability=availability
        or c.AvailabilitySpec(window_end=(datetime.now(UTC) + timedelta(days=1)).isoformat()),
        media_queue=queue,
    )
    async with Worker(
        env.client, task_queue=queue, workflows=[TitleWorkflow], activities=fakes.activities()
    ):
        handle = await env.client.start_workflow(
            TitleWorkflow.run, inp, id=workflow_id(title_id), task_queue=queue
        )
        yield handle


async def status_of(handle: WorkflowHandle[Any, c.TitleStatus]) -> c.TitleStatus:
    result: c.TitleStatus = await handle.query(TitleWorkflow.status)
    return result


async def wait_for(
    handle: WorkflowHandle[Any, c.TitleStatus], ok: Callable[[c.TitleStatus], bool]
) -> c.TitleStatus:
    """Poll the status query until ``ok`` holds (bounded: fails rather than hangs)."""
    for _ in range(400):
        st = await status_of(handle)
        if ok(st):
            return st
        await asyncio.sleep(0.05)
    raise AssertionError(f"condition never held; last status {st}")


def stage(st: c.TitleStatus, name: str) -> c.StageState:
    return next(s for s in st.stages if s.name == name)


def progress_above(floor: float) -> Callable[[c.TitleStatus], bool]:
    return lambda st: stage(st, "encode").progress > floor


# ---------------------------------------------------------------------------- gate


async def test_gate_passes_by_itself_without_warnings(
    ts_env: WorkflowEnvironment,
) -> None:
    fakes = StandIns(chunks=2)
    async with started(ts_env, fakes) as handle:
        st = await handle.result()
    assert st.state == FINISHED, st
    assert st.errors == []
    assert stage(st, "approval").state == "done"
    assert "passed by itself" in stage(st, "approval").detail
    assert "awaiting_approval" not in fakes.event_names()
    assert "renditions_ready" in fakes.event_names()
    assert fakes.calls[c.ENCODE_CHUNK] == 2
    assert fakes.calls[c.JOIN_RENDITIONS] == 1
    assert [s.state for s in st.stages if s.name == "subtitles"] == ["skipped"]
    assert all(s.state in ("done", "skipped") for s in st.stages), st.stages
    assert {r.kind for r in st.renditions} == {"video", "audio"}


async def test_gate_waits_on_qc_warnings_then_proceeds_on_approve(
    ts_env: WorkflowEnvironment,
) -> None:
    fakes = StandIns(qc_warnings=["loudness: -14.0 LUFS, target -23 +/- 2"])
    async with started(ts_env, fakes) as handle:
        waiting = await wait_for(handle, lambda s: s.state == "awaiting_approval")
        assert waiting.stage == "approval"
        assert stage(waiting, "approval").state == "waiting"
        assert waiting.qc_warnings == fakes.qc_warnings
        assert fakes.calls[c.ANALYSE_LADDER] == 0, "nothing past the gate runs while waiting"
        await handle.signal(TitleWorkflow.approve, "alice")
        st = await handle.result()
    assert st.state == FINISHED, st
    assert stage(st, "approval").state == "done"
    assert "alice" in stage(st, "approval").detail
    names = fakes.event_names()
    assert names.index("awaiting_approval") < names.index("approved")
    assert fakes.calls[c.ENCODE_CHUNK] == 1


async def test_require_approval_waits_without_warnings(
    ts_env: WorkflowEnvironment,
) -> None:
    fakes = StandIns()
    async with started(ts_env, fakes, require_approval=True) as handle:
        waiting = await wait_for(handle, lambda s: s.state == "awaiting_approval")
        assert waiting.qc_warnings == []
        assert stage(waiting, "approval").state == "waiting"
        await handle.signal(TitleWorkflow.approve, "ops")
        st = await handle.result()
    assert st.state == FINISHED, st


async def test_reject_skips_the_rest_and_encodes_nothing(
    ts_env: WorkflowEnvironment,
) -> None:
    fakes = StandIns(chunks=3)
    async with started(ts_env, fakes, require_approval=True) as handle:
        await wait_for(handle, lambda s: s.state == "awaiting_approval")
        await handle.signal(TitleWorkflow.reject, "wrong aspect ratio")
        st = await handle.result()
    assert st.state == "rejected", st
    assert stage(st, "approval").state == "failed"
    assert stage(st, "approval").detail == "wrong aspect ratio"
    after = STAGES[STAGES.index("approval") + 1 :]
    assert [stage(st, n).state for n in after] == ["skipped"] * len(after)
    for name in (c.ANALYSE_LADDER, c.ENCODE_CHUNK, c.JOIN_RENDITIONS, c.ENCODE_AUDIO):
        assert fakes.calls[name] == 0, name
    assert fakes.events[-1].event == "rejected"
    assert fakes.events[-1].detail == {"reason": "wrong aspect ratio"}


async def test_takedown_while_waiting_ends_taken_down(
    ts_env: WorkflowEnvironment,
) -> None:
    fakes = StandIns(qc_warnings=["interlace: interlaced source"])
    async with started(ts_env, fakes) as handle:
        await wait_for(handle, lambda s: s.state == "awaiting_approval")
        await handle.signal(TitleWorkflow.takedown, "rights withdrawn")
        st = await handle.result()
    assert st.state == "taken_down", st
    assert fakes.calls[c.ENCODE_CHUNK] == 0
    assert fakes.calls[c.ANALYSE_LADDER] == 0
    assert fakes.events[-1].event == "taken_down"
    assert fakes.events[-1].detail == {"reason": "rights withdrawn"}


# ---------------------------------------------------------------------------- QC


async def test_qc_failure_ends_qc_failed_without_encoding(
    ts_env: WorkflowEnvironment,
) -> None:
    fakes = StandIns(qc_passed=False)
    async with started(ts_env, fakes) as handle:
        st = await handle.result()
    assert st.state == "qc_failed", st
    assert st.qc_failures == ["probe: not a media file"]
    assert stage(st, "qc").state == "failed"
    assert [stage(st, n).state for n in STAGES[2:]] == ["skipped"] * len(STAGES[2:])
    assert fakes.calls[c.ENCODE_CHUNK] == 0
    assert fakes.calls[c.ANALYSE_LADDER] == 0
    assert fakes.event_names()[-1] == "qc_failed"


# ---------------------------------------------------------------------------- encode


async def test_encode_fans_out_one_activity_per_chunk_with_rising_progress(
    ts_env: WorkflowEnvironment,
) -> None:
    fakes = StandIns(chunks=3, hold_encode=True)
    async with started(ts_env, fakes) as handle:
        # All three chunks are in flight at once: the fan-out is concurrent.
        first = await wait_for(
            handle, lambda s: s.stage == "encode" and fakes.calls[c.ENCODE_CHUNK] == 3
        )
        seen = [stage(first, "encode").progress]
        for index in range(3):
            fakes.release(index)
            st = await wait_for(handle, progress_above(seen[-1]))
            seen.append(stage(st, "encode").progress)
        st = await handle.result()
    assert seen[0] == 0.0
    assert seen == sorted(seen) and len(set(seen)) == len(seen), seen
    assert seen[-1] >= 90.0
    assert stage(st, "encode").progress == 100.0
    assert sorted(i for i, _ in fakes.encode_attempts) == [0, 1, 2]
    assert st.state == FINISHED
    assert [r.name for r in st.renditions if r.kind == "video"] == [r.name for r in RUNGS]


def _patches(history_json: str) -> list[str]:
    """The decoded detail payloads of the markers a run recorded (patches among them)."""
    events = json.loads(history_json)["events"]
    return [
        base64.b64decode(payload["data"]).decode()
        for e in events
        if e.get("eventType") == "EVENT_TYPE_MARKER_RECORDED"
        for detail in e["markerRecordedEventAttributes"]["details"].values()
        for payload in detail["payloads"]
    ]


async def test_extra_codec_ladder_is_analysed_encoded_and_packaged_beside_the_main(
    ts_env: WorkflowEnvironment,
) -> None:
    fakes = StandIns(chunks=2)
    async with started(ts_env, fakes, extra_codecs=["av1"]) as handle:
        st = await handle.result()
        patches = _patches((await handle.fetch_history()).to_json())
    assert st.state == FINISHED
    assert fakes.analyse_codecs == ["h264", "av1"]
    assert fakes.calls[c.ENCODE_CHUNK] == 4 and fakes.calls[c.JOIN_RENDITIONS] == 2
    assert [j.ladder_key.rsplit("/", 1)[-1] for j in fakes.join_requests] == [
        "l.json",
        "l-av1.json",
    ]
    videos = [r for r in st.renditions if r.kind == "video"]
    assert [r.codec for r in videos] == ["h264", "h264", "av1", "av1"]
    assert [r.codec for r in st.ladder] == ["h264", "h264", "av1", "av1"]
    # One package holds both ladders (and the audio).
    (pkg,) = fakes.package_requests
    assert {r.name for r in pkg.renditions} >= {r.name for r in videos}
    assert "av1: 2 chunk(s) x 2 rungs" in stage(st, "encode").detail
    assert stage(st, "encode").progress == 100.0
    assert any("av1-alongside-14" in p for p in patches), patches


async def test_a_new_run_keys_a_wide_rung_by_its_pixels(ts_env: WorkflowEnvironment) -> None:
    # Issue 25: a 2.39:1 film's 1280x536 rung is HD (686,080 pixels), not SD by its height;
    # the run records the patch, so runs that started before it replay with the old rule.
    wide = c.RungSpec("536p", 1280, 536, 2000, "h264")
    fakes = StandIns(rungs=[wide, *RUNGS])
    async with started(ts_env, fakes) as handle:
        st = await handle.result()
        patches = _patches((await handle.fetch_history()).to_json())
    assert st.state == FINISHED
    assert fakes.keys_asked == [["AUDIO", "HD", "SD"]]
    assert any("pixel-key-classes-25" in p for p in patches), patches
    # Control: the usual 640x360 and 426x240 ladder needs the SD key only.
    plain = StandIns()
    async with started(ts_env, plain) as handle:
        await handle.result()
    assert plain.keys_asked == [["AUDIO", "SD"]]


async def test_no_extra_codec_records_no_patch_and_one_ladder(
    ts_env: WorkflowEnvironment,
) -> None:
    fakes = StandIns()
    async with started(ts_env, fakes) as handle:
        st = await handle.result()
        patches = _patches((await handle.fetch_history()).to_json())
    assert fakes.analyse_codecs == ["h264"]
    assert {r.codec for r in st.renditions if r.kind == "video"} == {"h264"}
    assert any("compact-lifecycle-11" in p for p in patches), patches  # markers are read
    assert not any("av1-alongside-14" in p for p in patches), patches


async def test_transient_encode_failure_is_retried(
    ts_env: WorkflowEnvironment,
) -> None:
    fakes = StandIns(chunks=3, encode_mode="transient_once")
    async with started(ts_env, fakes) as handle:
        st = await handle.result()
    assert st.state == FINISHED, st
    assert st.errors == []
    assert sorted(fakes.encode_attempts) == [(0, 1), (1, 1), (1, 2), (2, 1)]
    assert fakes.calls[c.JOIN_RENDITIONS] == 1


async def test_bad_media_is_not_retried_and_ends_failed(
    ts_env: WorkflowEnvironment,
) -> None:
    fakes = StandIns(chunks=1, encode_mode="bad_media")
    async with started(ts_env, fakes) as handle:
        # A broken lifecycle is a failed run, visible as such in the Temporal UI.
        with pytest.raises(WorkflowFailureError) as failed:
            await handle.result()
        assert isinstance(failed.value.cause, ApplicationError)
        assert failed.value.cause.type == "TitleFailed"
        assert "encode failed" in str(failed.value.cause)
        desc = await handle.describe()
        st = await status_of(handle)
    assert desc.status is not None and desc.status.name == "FAILED"
    assert desc.typed_search_attributes.get(STATE_ATTR) == "failed"
    assert st.state == "failed", st
    assert any("moov atom not found" in e for e in st.errors), st.errors
    assert stage(st, "encode").state == "failed"
    assert fakes.encode_attempts == [(0, 1)], "non-retryable: exactly one attempt"
    assert fakes.calls[c.JOIN_RENDITIONS] == 0
    assert fakes.events[-1].event == "failed"
    assert fakes.events[-1].detail["stage"] == "encode"


async def test_a_bad_title_id_fails_the_run_before_any_activity(
    ts_env: WorkflowEnvironment,
) -> None:
    """The workflow checks its input against the one title-id rule itself, instead of
    trusting every starter's regex."""
    fakes = StandIns(chunks=1)
    queue = f"orch-{uuid.uuid4().hex[:10]}"
    inp = c.TitleInput(title_id="Bad.Id@v2", source="/masters/film.mov", name="x")
    async with Worker(
        ts_env.client, task_queue=queue, workflows=[TitleWorkflow], activities=fakes.activities()
    ):
        handle = await ts_env.client.start_workflow(
            TitleWorkflow.run, inp, id=f"bad-id-{uuid.uuid4().hex[:8]}", task_queue=queue
        )
        with pytest.raises(WorkflowFailureError) as failed:
            await handle.result()
    assert isinstance(failed.value.cause, ApplicationError)
    assert failed.value.cause.type == "InvalidTitleId"
    assert "a-z 0-9 _ -" in str(failed.value.cause)
    assert sum(fakes.calls.values()) == 0, fakes.calls
    assert fakes.events == []


# ---------------------------------------------------------------------------- events


async def test_each_transition_is_recorded_once(
    ts_env: WorkflowEnvironment,
) -> None:
    fakes = StandIns(qc_warnings=["black: 1.0 s black at head"], chunks=2)
    async with started(ts_env, fakes) as handle:
        await wait_for(handle, lambda s: s.state == "awaiting_approval")
        await handle.signal(TitleWorkflow.approve, "ops")
        # A second decision after the first is ignored: no second transition.
        await handle.signal(TitleWorkflow.reject, "too late")
        st = await handle.result()
    assert st.state == FINISHED
    names = fakes.event_names()
    # Part 1's transitions in order; part 2 (publish, expiry) appends its own after them.
    assert names[:5] == [
        "ingest_started",
        "ingested",
        "awaiting_approval",
        "approved",
        "renditions_ready",
    ]
    assert names[-1] == FINISHED
    assert len(names) == len(set(names)), names
    keys = [e.dedupe_key for e in fakes.events]
    assert all(keys) and len(set(keys)) == len(keys), keys
    assert all(k is not None and k.startswith(handle.id) for k in keys)
    assert [e.state for e in fakes.events[:4]] == [
        "ingesting",
        "qc",
        "awaiting_approval",
        "processing",
    ]
    assert fakes.calls[c.REGISTER_TITLE] == 1


@pytest.mark.parametrize("signal_name", ["approve", "reject"])
async def test_decision_signals_before_the_gate_are_kept(
    ts_env: WorkflowEnvironment, signal_name: str
) -> None:
    """A decision signalled early (e.g. during QC) is applied when the gate is reached."""
    fakes = StandIns(hold_encode=False)
    async with started(ts_env, fakes, require_approval=True) as handle:
        if signal_name == "approve":
            await handle.signal(TitleWorkflow.approve, "early")
        else:
            await handle.signal(TitleWorkflow.reject, "early no")
        st = await handle.result()
    assert st.state == (FINISHED if signal_name == "approve" else "rejected"), st


# ---------------------------------------------------------------------------- windows


async def test_window_opens_then_update_window_extends_it(ts_env: WorkflowEnvironment) -> None:
    """Days pass in seconds: published before its start, opened on time, re-armed end."""
    # The test server's clock runs ahead of the wall clock once earlier tests skipped time.
    now = await ts_env.get_current_time()
    start, end = now + timedelta(days=2), now + timedelta(days=30)
    later_end = now + timedelta(days=60)
    fakes = StandIns()
    spec = c.AvailabilitySpec(start.isoformat(), end.isoformat())
    # The approval gate holds the run (no timer, so no time to skip) while the window moves.
    async with started(ts_env, fakes, availability=spec, require_approval=True) as handle:
        await handle.signal(
            TitleWorkflow.update_window, args=[start.isoformat(), later_end.isoformat()]
        )
        await handle.signal(TitleWorkflow.approve, "ops")
        st = await handle.result()
    assert st.state == "expired", st
    names = fakes.event_names()
    assert "window_opened" in names, [(e.event, e.detail) for e in fakes.events]
    assert names.index("published") < names.index("window_opened") < names.index("expired")
    assert "window_changed" in names
    assert fakes.windows == [(start.isoformat(), later_end.isoformat())]
    assert fakes.calls[c.EXPIRE_TITLE] == 1
    assert st.window_end == later_end.isoformat()
    expired = next(e for e in fakes.events if e.event == "expired")
    assert datetime.fromisoformat(expired.detail["at"]) >= later_end


async def test_update_window_to_the_past_ends_it_now(ts_env: WorkflowEnvironment) -> None:
    fakes = StandIns()
    spec = c.AvailabilitySpec(None, None)  # open-ended: no timer the server could skip to
    async with started(ts_env, fakes, availability=spec) as handle:
        with ts_env.auto_time_skipping_disabled():
            await wait_for(handle, lambda st: st.state == "published")
            past = (await ts_env.get_current_time() - timedelta(minutes=1)).isoformat()
            await handle.signal(TitleWorkflow.update_window, args=[None, past])
        st = await handle.result()
    assert st.state == "expired"
    assert fakes.windows == [(None, past)]
    assert fakes.calls[c.EXPIRE_TITLE] == 1


async def test_takedown_while_live_expires_at_once(ts_env: WorkflowEnvironment) -> None:
    fakes = StandIns()
    spec = c.AvailabilitySpec(None, None)  # open-ended: only a takedown ends it
    async with started(ts_env, fakes, availability=spec) as handle:
        await wait_for(handle, lambda st: st.state == "published")
        await handle.signal(TitleWorkflow.takedown, "rights dispute")
        st = await handle.result()
    assert st.state == "taken_down"
    assert fakes.event_names()[-1] == "taken_down"
    assert fakes.calls[c.EXPIRE_TITLE] == 1


# ---------------------------------------------------------------------------- issue 11


async def test_notify_outage_does_not_delay_expiry(ts_env: WorkflowEnvironment) -> None:
    """Redis down all along: every notification fails, publish and expiry keep their time."""
    now = await ts_env.get_current_time()
    end = now + timedelta(days=1)
    fakes = StandIns(notify_mode="fail")
    spec = c.AvailabilitySpec(None, end.isoformat())
    async with started(ts_env, fakes, availability=spec) as handle:
        st = await handle.result()
    assert st.state == "expired", st
    expired = next(e for e in fakes.events if e.event == "expired")
    # The expiry timer fired at the window's end, not after the notifications gave up.
    assert abs(datetime.fromisoformat(expired.detail["at"]) - end) < timedelta(minutes=1)
    failed = [e.detail["event"] for e in fakes.events if e.event == "notification_failed"]
    assert sorted(failed) == ["expired", "ingested", "published"], fakes.event_names()
    assert fakes.calls[c.NOTIFY_STUDIO] > 3, "each notification was retried before giving up"
    assert all(e.state is None for e in fakes.events if e.event == "notification_failed")


async def test_outcomes_are_searchable_by_reelflow_state(ts_env: WorkflowEnvironment) -> None:
    """A QC failure completes the run (a business outcome) with ReelflowState=qc_failed."""
    async with started(ts_env, StandIns(qc_passed=False)) as handle:
        assert (await handle.result()).state == "qc_failed"
        desc = await handle.describe()
    assert desc.status is not None and desc.status.name == "COMPLETED"
    assert desc.typed_search_attributes.get(STATE_ATTR) == "qc_failed"

    spec = c.AvailabilitySpec(None, None)  # stays live until taken down
    async with started(ts_env, StandIns(), availability=spec) as handle:
        await wait_for(handle, lambda st: st.state == "published")
        live = await handle.describe()
        await handle.signal(TitleWorkflow.takedown, "rights dispute")
        await handle.result()
        gone = await handle.describe()
    assert live.typed_search_attributes.get(STATE_ATTR) == "published"
    assert gone.typed_search_attributes.get(STATE_ATTR) == "taken_down"


async def test_no_list_in_history_grows_with_segments_or_chunks(
    ts_env: WorkflowEnvironment,
) -> None:
    fakes = StandIns(chunks=4, segments=500)
    async with started(ts_env, fakes) as handle:
        assert (await handle.result()).state == FINISHED
    [join] = fakes.join_requests
    assert join.chunk_results == [] and join.chunk_count == 4
    assert join.parts_prefix.startswith("renditions/")
    [package] = fakes.published
    assert package.files == [] and package.file_count == 2 + 3 * 500
    assert package.files_key == "packages/x/package.json"
    assert all(ch == (i, 1) for i, ch in enumerate(sorted(fakes.encode_attempts)))


async def _live(
    env: WorkflowEnvironment, fakes: StandIns, title_id: str, version: int, wf_id: str, queue: str
) -> WorkflowHandle[Any, c.TitleStatus]:
    inp = c.TitleInput(
        title_id=title_id,
        source="/masters/film.mov",
        name="film",
        version=version,
        options=c.TitleOptions(ladder="fixed"),
        availability=c.AvailabilitySpec(None, None),  # open-ended: live until told
        media_queue=queue,
    )
    handle = await env.client.start_workflow(TitleWorkflow.run, inp, id=wf_id, task_queue=queue)
    await wait_for(handle, lambda st: st.state == "published")
    return handle


async def test_supersede_reaches_legacy_ids_of_the_same_title_only(
    ts_env: WorkflowEnvironment,
) -> None:
    """v3 retires v1 (title-X) and v2 started before the "@v" ids (title-X-v2); title
    "Y-v2" (whose id is Y's legacy v2 id) is not touched by Y's v3."""
    fakes = StandIns()
    queue = f"orch-{uuid.uuid4().hex[:10]}"
    x, y = f"x{uuid.uuid4().hex[:6]}", f"y{uuid.uuid4().hex[:6]}"
    # No timer is due: skipping time would only run the idle runs into the test server's
    # own execution deadline.
    with ts_env.auto_time_skipping_disabled():
        async with Worker(
            ts_env.client,
            task_queue=queue,
            workflows=[TitleWorkflow],
            activities=fakes.activities(),
        ):
            await _supersede_scenario(ts_env, fakes, queue, x, y)


async def _supersede_scenario(
    ts_env: WorkflowEnvironment, fakes: StandIns, queue: str, x: str, y: str
) -> None:
    x1 = await _live(ts_env, fakes, x, 1, workflow_id(x), queue)
    x2 = await _live(ts_env, fakes, x, 2, f"title-{x}-v2", queue)  # a pre-"@v" start
    other = await _live(ts_env, fakes, f"{y}-v2", 1, workflow_id(f"{y}-v2"), queue)
    assert other.id == f"title-{y}-v2", "the collision the legacy ids had"
    x3 = await _live(ts_env, fakes, x, 3, workflow_id(x, 3), queue)
    y3 = await _live(ts_env, fakes, y, 3, workflow_id(y, 3), queue)
    assert x3.id == f"title-{x}@v3"
    assert (await x1.result()).state == "superseded"
    assert (await x2.result()).state == "superseded"
    assert (await status_of(other)).state == "published", "another title's run"
    for handle in (x3, y3, other):
        st = await status_of(handle)
        assert st.state == "published", (handle.id, st.state, st.errors)
        await handle.signal(TitleWorkflow.takedown, "test over")
        assert (await handle.result()).state == "taken_down"


async def _measured(env: WorkflowEnvironment, chunks: int, segments: int) -> HistorySize:
    async with started(env, StandIns(chunks=chunks, segments=segments)) as handle:
        assert (await handle.result()).state == FINISHED
        return await history_size(handle)


async def test_history_size_does_not_grow_with_segment_count(
    ts_env: WorkflowEnvironment,
) -> None:
    """4x the segments: the same history; 4x the chunks: more events (one activity per
    chunk), a fixed cost each, and no event larger than before."""
    small = await _measured(ts_env, chunks=2, segments=300)
    more_segments = await _measured(ts_env, chunks=2, segments=1200)
    more_chunks = await _measured(ts_env, chunks=8, segments=1200)
    print(f"history: small {small}; 4x segments {more_segments}; 4x chunks {more_chunks}")
    # Runs differ a little by how completions batch into workflow tasks (a few events of
    # ~60 bytes); 900 more file names, carried twice, would add ~40 kB.
    assert abs(more_segments.events - small.events) <= 12, (small, more_segments)
    assert abs(more_segments.bytes - small.bytes) < 2000, (small, more_segments)
    assert abs(more_segments.largest_event_bytes - small.largest_event_bytes) < 64
    assert more_chunks.largest_event_bytes < small.largest_event_bytes + 64
    per_chunk = (more_chunks.bytes - more_segments.bytes) / 6
    assert per_chunk < 3000, per_chunk


async def test_lookups_find_legacy_ids_of_the_same_title_only(
    ts_env: WorkflowEnvironment,
) -> None:
    fakes = StandIns()
    queue = f"orch-{uuid.uuid4().hex[:10]}"
    x = f"x{uuid.uuid4().hex[:6]}"
    with ts_env.auto_time_skipping_disabled():  # as above: no timer is due
        async with Worker(
            ts_env.client,
            task_queue=queue,
            workflows=[TitleWorkflow],
            activities=fakes.activities(),
        ):
            await _lookup_scenario(ts_env, fakes, queue, x)


async def _lookup_scenario(
    ts_env: WorkflowEnvironment, fakes: StandIns, queue: str, x: str
) -> None:
    legacy = await _live(ts_env, fakes, x, 2, f"title-{x}-v2", queue)  # a pre-"@v" start
    found = await find_title_run(ts_env.client, x, 2)
    assert found is not None and found.id == legacy.id
    # Title "<x>-v2" has no run; the run at its id is <x> v2 and is not taken for it.
    assert await find_title_run(ts_env.client, f"{x}-v2", 1) is None
    assert await find_title_run(ts_env.client, x, 3) is None
    x3 = await _live(ts_env, fakes, x, 3, workflow_id(x, 3), queue)
    found3 = await find_title_run(ts_env.client, x, 3)
    assert found3 is not None and found3.id == f"title-{x}@v3"
    assert (await legacy.result()).state == "superseded"
    await x3.signal(TitleWorkflow.takedown, "test over")
    await x3.result()
