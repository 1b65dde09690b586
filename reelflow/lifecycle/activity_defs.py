"""Typed definitions of the workflows' activities: what TitleWorkflow calls (and, at the
end, what EventsUpkeepWorkflow calls).

Each is a stub registered under the activity's wire name from ``contracts``, with the
request and result types of the real activity and no body. The workflow passes the stub to
``workflow.execute_activity``, so mypy checks every call's argument and result type; each
implementation is declared with ``@implements(stub)``, so mypy checks that it has the stub's
signature, and it takes its wire name from the stub. A renamed or re-typed activity then
fails the type check instead of a running title.

This module imports nothing but the contracts (``contracts``, ``events_upkeep``) and the
SDK: the workflow sandbox must not load the implementations (they pull in ffmpeg,
packaging, storage and catalog code).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Concatenate, Literal, ParamSpec, TypeVar

from temporalio import activity

from reelflow.lifecycle import contracts as c
from reelflow.lifecycle import events_upkeep as u
from reelflow.lifecycle import live_channels as lv
from reelflow.lifecycle import recs_training as r

P = ParamSpec("P")
R = TypeVar("R")
S = TypeVar("S")
F = TypeVar("F", bound=Callable[..., Any])

Queue = Literal["control", "media", "live"]

# Wire name -> stub, and the worker role that hosts it (tests/workers/test_registry.py
# holds the registered implementations to these).
STUBS: dict[str, Callable[..., Any]] = {}
QUEUE: dict[str, Queue] = {}
_NAME: dict[Callable[..., Any], str] = {}


def _stub(name: str, queue: Queue) -> Callable[[F], F]:
    def define(fn: F) -> F:
        STUBS[name] = fn
        QUEUE[name] = queue
        _NAME[fn] = name
        return activity.defn(name=name)(fn)

    return define


def implements(
    stub: Callable[P, R],
) -> Callable[[Callable[Concatenate[S, P], R]], Callable[Concatenate[S, P], R]]:
    """Make an activity method the implementation of ``stub``, under the stub's name.

    mypy holds the method (after ``self``) to the stub's parameter and return types.
    """
    name = _NAME[stub]

    def define(fn: Callable[Concatenate[S, P], R]) -> Callable[Concatenate[S, P], R]:
        return activity.defn(name=name)(fn)

    return define


def _stub_only(what: str) -> NotImplementedError:
    return NotImplementedError(f"{what} is a definition; workers register the implementation")


# ---- control queue: catalog writes and light storage work
@_stub(c.REGISTER_TITLE, "control")
def register_title(inp: c.TitleInput) -> None:
    raise _stub_only(c.REGISTER_TITLE)


@_stub(c.RECORD_EVENT, "control")
def record_event(req: c.EventRequest) -> bool:
    raise _stub_only(c.RECORD_EVENT)


@_stub(c.GENERATE_KEYS, "control")
def generate_keys(req: c.KeysRequest) -> c.KeysResult:
    raise _stub_only(c.GENERATE_KEYS)


@_stub(c.PUBLISH_TITLE, "control")
def publish_title(req: c.PublishRequest) -> c.PublishResult:
    raise _stub_only(c.PUBLISH_TITLE)


@_stub(c.UPDATE_AVAILABILITY, "control")
def update_availability(req: c.AvailabilityUpdate) -> None:
    raise _stub_only(c.UPDATE_AVAILABILITY)


@_stub(c.EXPIRE_TITLE, "control")
def expire_title(req: c.ExpireRequest) -> None:
    raise _stub_only(c.EXPIRE_TITLE)


@_stub(c.NOTIFY_STUDIO, "control")
def notify_studio(req: c.NotifyRequest) -> str | None:
    raise _stub_only(c.NOTIFY_STUDIO)


# ---- media queue: ffmpeg and the packager, on hosts that scale with encode capacity
@_stub(c.INGEST_MASTER, "media")
def ingest_master(req: c.IngestRequest) -> c.IngestResult:
    raise _stub_only(c.INGEST_MASTER)


@_stub(c.RUN_QC, "media")
def run_qc(req: c.QCRequest) -> c.QCResult:
    raise _stub_only(c.RUN_QC)


@_stub(c.ANALYSE_LADDER, "media")
def analyse_ladder(req: c.AnalyseRequest) -> c.LadderResult:
    raise _stub_only(c.ANALYSE_LADDER)


@_stub(c.ENCODE_CHUNK, "media")
def encode_chunk(req: c.EncodeChunkRequest) -> c.EncodeChunkResult:
    raise _stub_only(c.ENCODE_CHUNK)


@_stub(c.JOIN_RENDITIONS, "media")
def join_renditions(req: c.JoinRequest) -> list[c.RenditionInfo]:
    raise _stub_only(c.JOIN_RENDITIONS)


@_stub(c.ENCODE_AUDIO, "media")
def encode_audio(req: c.AudioRequest) -> list[c.RenditionInfo]:
    raise _stub_only(c.ENCODE_AUDIO)


@_stub(c.PREPARE_SUBTITLES, "media")
def prepare_subtitles(req: c.SubtitlesRequest) -> list[c.RenditionInfo]:
    raise _stub_only(c.PREPARE_SUBTITLES)


@_stub(c.MAKE_THUMBNAILS, "media")
def make_thumbnails(req: c.ThumbnailsRequest) -> c.ThumbnailsResult:
    raise _stub_only(c.MAKE_THUMBNAILS)


@_stub(c.PACKAGE_TITLE, "media")
def package_title(req: c.PackageRequest) -> c.PackageInfo:
    raise _stub_only(c.PACKAGE_TITLE)


# ---- control queue: the viewer events' hourly upkeep (EventsUpkeepWorkflow)
@_stub(u.PLAN_EVENTS_UPKEEP, "control")
def plan_events_upkeep(req: u.UpkeepAt) -> u.UpkeepPlan:
    raise _stub_only(u.PLAN_EVENTS_UPKEEP)


@_stub(u.UPKEEP_EVENT_TYPE, "control")
def upkeep_event_type(req: u.TypeUpkeepRequest) -> u.TypeUpkeepResult:
    raise _stub_only(u.UPKEEP_EVENT_TYPE)


@_stub(u.EXPIRE_EVENTS, "control")
def expire_events(req: u.UpkeepAt) -> u.ExpireResult:
    raise _stub_only(u.EXPIRE_EVENTS)


# ---- control queue: recommendation training (RecsTrainingWorkflow)
@_stub(r.TRAIN_RECS_MODEL, "control")
def train_recs_model(req: r.TrainAt) -> r.TrainResult:
    raise _stub_only(r.TRAIN_RECS_MODEL)


@_stub(r.PROMOTE_RECS_MODEL, "control")
def promote_recs_model(req: r.PromoteRequest) -> None:
    raise _stub_only(r.PROMOTE_RECS_MODEL)


@_stub(r.PRECOMPUTE_RECS_ROWS, "control")
def precompute_recs_rows(req: r.TrainAt) -> r.PrecomputeResult:
    raise _stub_only(r.PRECOMPUTE_RECS_ROWS)


# ---- live queue: one channel's real-time pipeline for as long as the channel runs
@_stub(lv.RUN_LIVE_CHANNEL, "live")
async def run_live_channel(req: lv.ChannelRun) -> lv.ChannelRunResult:
    raise _stub_only(lv.RUN_LIVE_CHANNEL)
