"""What the topology tests do to a title: make and ingest it, follow it, read its history,
play it through api-1, api-2 and the edge. Only bridge addresses are contacted."""

from __future__ import annotations

import asyncio
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from minio import Minio
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from reelflow.domain.ids import workflow_id
from reelflow.lifecycle import contracts as c
from reelflow.media.samples import make_test_title
from reelflow.workflows.title import TitleWorkflow
from tests.topology.harness import BUCKET, Topology, http

# 150 s at 60 s chunks: chunks of 60, 60 and 30 s, so the work spreads over two hosts.
TITLE_S = 150.0


def store(topo: Topology) -> Minio:
    assert topo.s3 is not None
    s3 = topo.s3
    return Minio(s3.endpoint, access_key=s3.access_key, secret_key=s3.secret_key, secure=False)


def bucket_keys(topo: Topology, prefix: str = "") -> list[str]:
    return sorted(
        o.object_name or "" for o in store(topo).list_objects(BUCKET, prefix, recursive=True)
    )


def make_master(path: Path, seconds: float = TITLE_S) -> Path:
    ffmpeg = shutil.which("ffmpeg")
    assert ffmpeg is not None
    return make_test_title(path, ffmpeg=ffmpeg, seconds=seconds, size="426x240", rate=24)


def ingest(topo: Topology, title_id: str, workdir: Path, seconds: float = TITLE_S) -> None:
    """A generated master, uploaded to S3 by ops and ingested from its store key on the
    control host (the studio path, presigned upload + webhook, has its own test)."""
    master = make_master(workdir / f"{title_id}.mp4", seconds)
    key = f"masters/{title_id}.mp4"
    store(topo).fput_object(BUCKET, key, str(master))
    topo.cli("control", "titles", "ingest", f"store:{key}", "--id", title_id, "--name", title_id,
             "--ladder", "fixed")  # fmt: skip


async def _client(topo: Topology) -> Client:
    return await Client.connect(topo.temporal_address)


def status(topo: Topology, title_id: str) -> c.TitleStatus:
    async def go() -> c.TitleStatus:
        handle = (await _client(topo)).get_workflow_handle(workflow_id(title_id, 1))
        result: c.TitleStatus = await handle.query(TitleWorkflow.status, rpc_timeout=None)
        return result

    return asyncio.run(go())


def wait_state(topo: Topology, title_id: str, states: set[str], timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    last = "?"
    while time.monotonic() < deadline:
        try:
            st = status(topo, title_id)
            last = f"{st.state}/{st.stage} {st.errors[-3:]}"
            if st.state in states:
                return st.state
        except Exception as exc:  # Temporal restarting, workflow not yet visible
            last = repr(exc)[:300]
        time.sleep(1.0)
    raise TimeoutError(f"{title_id} not in {states} after {timeout_s}s: {last}")


@dataclass
class ChunkRun:
    identity: str
    attempt: int
    seconds: float  # started -> completed
    chunk: int  # order of scheduling = chunk index


def chunk_runs(topo: Topology, title_id: str) -> list[ChunkRun]:
    """Completed encode_chunk activities: who ran each (worker identity) and how long."""

    async def go() -> list[ChunkRun]:
        handle = (await _client(topo)).get_workflow_handle(workflow_id(title_id, 1))
        scheduled: dict[int, int] = {}
        started: dict[int, tuple[str, int, float]] = {}
        runs: list[ChunkRun] = []
        async for ev in handle.fetch_history_events():
            t = ev.event_time.ToDatetime().timestamp()
            if ev.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                if ev.activity_task_scheduled_event_attributes.activity_type.name == c.ENCODE_CHUNK:
                    scheduled[ev.event_id] = len(scheduled)
            elif ev.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
                a = ev.activity_task_started_event_attributes
                started[a.scheduled_event_id] = (a.identity, a.attempt, t)
            elif ev.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
                sched = ev.activity_task_completed_event_attributes.scheduled_event_id
                if sched in scheduled:
                    identity, attempt, t0 = started[sched]
                    runs.append(ChunkRun(identity, attempt, t - t0, scheduled[sched]))
        return sorted(runs, key=lambda r: r.chunk)

    return asyncio.run(go())


def pending_chunk_workers(topo: Topology, title_id: str) -> list[str]:
    """Identities of the workers running encode_chunk attempts right now."""

    async def go() -> list[str]:
        handle = (await _client(topo)).get_workflow_handle(workflow_id(title_id, 1))
        desc = await handle.describe()
        return [
            p.last_worker_identity
            for p in desc.raw_description.pending_activities
            if p.activity_type.name == c.ENCODE_CHUNK and p.last_worker_identity
        ]

    return asyncio.run(go())


@dataclass
class Played:
    session: dict[str, Any]
    segments: int
    bytes: int


MPD_BASE_RE = re.compile(r"<BaseURL>([^<]+)</BaseURL>")


def start_playback(topo: Topology, replica: int, title_id: str, token: str, device: str
                   ) -> tuple[int, dict[str, Any]]:  # fmt: skip
    code, _, body = http(
        "POST",
        f"{topo.api_url(replica)}/v1/titles/{title_id}/playback",
        {"device_id": device, "drm": ["clearkey"], "protocols": ["dash"]},
        {"Authorization": f"Bearer {token}"},
    )
    import json

    return code, (json.loads(body) if body else {})


def on_replica(topo: Topology, url: str, replica: int) -> str:
    """The same API URL (handed out under the edge's address) sent to one replica directly."""
    return re.sub(r"^http://[^/]+", topo.api_url(replica), url)


def segment_urls(mpd: str) -> list[str]:
    """init + every media segment of each representation (SegmentTemplate + Timeline)."""
    base = MPD_BASE_RE.search(mpd)
    assert base, mpd[:400]
    urls: list[str] = []
    for tmpl in re.finditer(r"<SegmentTemplate\b(.*?)>(.*?)</SegmentTemplate>", mpd, re.S):
        attrs = dict(re.findall(r'(\w+)="([^"]*)"', tmpl.group(1)))
        count = 0
        for s_attrs in re.findall(r"<S\b([^>]*)/>", tmpl.group(2)):
            repeat = re.search(r'\br="(\d+)"', s_attrs)
            count += 1 + (int(repeat.group(1)) if repeat else 0)
        first = int(attrs.get("startNumber", "1"))
        urls.append(base.group(1) + attrs["initialization"])
        urls += [
            base.group(1) + attrs["media"].replace("$Number$", str(n))
            for n in range(first, first + count)
        ]
    return urls


def default_kids(mpd: str) -> list[str]:
    """The package's key ids (cenc:default_KID), base64url as ClearKey requests carry them."""
    import base64
    import uuid

    kids = sorted(set(re.findall(r'cenc:default_KID="([0-9a-f-]{36})"', mpd)))
    return [base64.urlsafe_b64encode(uuid.UUID(k).bytes).decode().rstrip("=") for k in kids]


def max_attempts(topo: Topology, title_id: str) -> dict[str, int]:
    """Activity type -> highest attempt started: > 1 where the lifecycle retried."""

    async def go() -> dict[str, int]:
        handle = (await _client(topo)).get_workflow_handle(workflow_id(title_id, 1))
        names: dict[int, str] = {}
        out: dict[str, int] = {}
        async for ev in handle.fetch_history_events():
            if ev.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                names[ev.event_id] = ev.activity_task_scheduled_event_attributes.activity_type.name
            elif ev.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
                a = ev.activity_task_started_event_attributes
                name = names[a.scheduled_event_id]
                out[name] = max(out.get(name, 0), a.attempt)
        return out

    return asyncio.run(go())
