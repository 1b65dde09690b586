"""Studio title namespaces and ingest quotas through the real app, with a real Temporal dev
server, Redis and SQLite (the harness of test_studio_ingest.py).

No existence oracle: one studio's answer for an id never depends on whether another studio
holds it. A version whose run ended before anything was published can be delivered again.
Over its ingest quota a studio gets 429 with Retry-After, and nothing is claimed or started.
"""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlmodel import Session, select
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from reelflow.catalog import titles
from reelflow.catalog.models import IngestRequestRow, Title
from reelflow.studios.accounts import StudioCredentials, set_quotas
from tests.playback_api.test_studio_ingest import (
    StudioApi,
    call,
    in_catalog,
    ingest_doc,
    new_title_id,
    problem_type,
    terminate,
)
from tests.playback_api.test_studio_ingest import (
    public_example_hosts as public_example_hosts,  # autouse there, and here: made-up hosts
)
from tests.playback_api.test_studio_ingest import (
    temporal_api as temporal_api,  # the app on the session's Temporal dev server
)


def _shape(response: httpx.Response) -> tuple[int, list[str]]:
    return response.status_code, sorted(response.json())


async def test_no_answer_depends_on_another_studios_titles(
    temporal_api: StudioApi, temporal_env: WorkflowEnvironment
) -> None:
    acme, globex = temporal_api.studio(), temporal_api.studio()
    taken, fresh = new_title_id(), new_title_id()
    started = [in_catalog(acme, taken), in_catalog(globex, taken), in_catalog(globex, fresh)]
    try:
        mine = await call(temporal_api.post, acme, ingest_doc(taken))
        assert mine.status_code == 202, mine.text
        # globex probes the id acme holds, and one nobody holds: the same answer, each its
        # own title in globex's namespace.
        probe = await call(temporal_api.post, globex, ingest_doc(taken))
        control = await call(temporal_api.post, globex, ingest_doc(fresh))
        assert _shape(probe) == _shape(control) == (202, sorted(mine.json()))
        assert probe.json()["catalog_title_id"] == in_catalog(globex, taken)
        for cid, owner in zip(started, (acme, globex, globex), strict=True):
            desc = await temporal_env.client.get_workflow_handle(f"title-{cid}").describe()
            assert (await desc.memo())["studio_id"] == owner.studio_id
        # acme's title is untouched: its owner, name and run.
        with Session(temporal_api.engine) as s:
            row = s.get(Title, in_catalog(acme, taken))
        assert row is not None and (row.studio_id, row.studio_title_id) == (acme.studio_id, taken)
        # Status: each studio sees its own title under the id; an unknown id is 404.
        assert (await call(temporal_api.status, globex, taken)).status_code in (200, 503)
        unknown = await call(temporal_api.status, acme, new_title_id())
        assert unknown.status_code == 404 and problem_type(unknown) == "not_found"
        # An id a studio cannot use (ops holds the catalog id of its namespace): 403, with
        # the one message every such refusal has.
        blocked = new_title_id()
        titles.upsert_title(temporal_api.engine, title_id=in_catalog(globex, blocked), name="Ops")
        refused = await call(temporal_api.post, globex, ingest_doc(blocked))
        assert refused.status_code == 403 and problem_type(refused) == "forbidden"
        assert refused.json()["detail"] == "this title id is not available to you"
    finally:
        for cid in started:
            await terminate(temporal_env.client, f"title-{cid}")


async def test_racing_studios_each_get_their_own_title(
    temporal_api: StudioApi, temporal_env: WorkflowEnvironment
) -> None:
    studios = [temporal_api.studio() for _ in range(4)]
    title_id = new_title_id()
    start = threading.Barrier(len(studios))

    def deliver(creds: StudioCredentials) -> httpx.Response:
        start.wait(30)
        return temporal_api.post(creds, ingest_doc(title_id))

    def burst() -> list[httpx.Response]:
        with ThreadPoolExecutor(max_workers=len(studios)) as pool:
            return list(pool.map(deliver, studios))

    try:
        responses = await asyncio.to_thread(burst)
        assert [r.status_code for r in responses] == [202] * 4, [r.text for r in responses]
        for creds, response in zip(studios, responses, strict=True):
            assert response.json()["catalog_title_id"] == in_catalog(creds, title_id)
            desc = await temporal_env.client.get_workflow_handle(
                f"title-{in_catalog(creds, title_id)}"
            ).describe()
            assert (await desc.memo())["studio_id"] == creds.studio_id
    finally:
        for creds in studios:
            await terminate(temporal_env.client, f"title-{in_catalog(creds, title_id)}")


async def test_a_version_that_ended_unpublished_can_be_delivered_again(
    temporal_api: StudioApi, temporal_env: WorkflowEnvironment
) -> None:
    creds = temporal_api.studio()
    title_id = new_title_id()
    cid = in_catalog(creds, title_id)
    handle = temporal_env.client.get_workflow_handle(f"title-{cid}")
    t0 = int(time.time())  # each delivery signed afresh: the same bytes, a new signature
    try:
        first = await call(temporal_api.post, creds, ingest_doc(title_id), t=t0 - 2)
        assert first.status_code == 202, first.text
        ended = (await handle.describe()).run_id
        await handle.terminate(reason="the ingest failed before publishing")
        again = await call(temporal_api.post, creds, ingest_doc(title_id), t=t0 - 1)
        assert again.status_code == 202, again.text
        desc = await handle.describe()
        assert desc.run_id != ended and desc.status == WorkflowExecutionStatus.RUNNING
        # Once the version was published, a closed run is final: a redelivery joins it.
        titles.append_event(temporal_api.engine, title_id=cid, event="published", actor="wf")
        final = desc.run_id
        await handle.terminate(reason="closed after publishing")
        joined = await call(temporal_api.post, creds, ingest_doc(title_id), t=t0)
        assert joined.status_code == 202, joined.text
        desc = await handle.describe()
        assert desc.run_id == final and desc.status == WorkflowExecutionStatus.TERMINATED
    finally:
        await terminate(temporal_env.client, f"title-{cid}")


async def test_over_the_ingest_quota_is_429_and_nothing_is_created(
    temporal_api: StudioApi, temporal_env: WorkflowEnvironment
) -> None:
    started: list[str] = []
    try:
        # Fixed clock windows: a round that straddles a minute boundary is run again.
        for _ in range(3):
            creds = temporal_api.studio()
            set_quotas(temporal_api.engine, creds.studio_id, {"ingests_per_minute": 2})
            window = int(time.time()) // 60
            ids = [new_title_id() for _ in range(3)]
            started += [f"title-{in_catalog(creds, t)}" for t in ids]
            answers = [await call(temporal_api.post, creds, ingest_doc(t)) for t in ids]
            if int(time.time()) // 60 == window:
                break
        assert [a.status_code for a in answers[:2]] == [202, 202], [a.text for a in answers]
        over = answers[2]
        assert over.status_code == 429 and problem_type(over) == "rate_limited"
        assert 1 <= int(over.headers["retry-after"]) <= 60
        with Session(temporal_api.engine) as s:
            assert s.get(Title, in_catalog(creds, ids[2])) is None
            rows = s.exec(select(IngestRequestRow).where(IngestRequestRow.title_id == ids[2]))
            assert rows.all() == []
        with pytest.raises(RPCError) as missing:
            await temporal_env.client.get_workflow_handle(started[-1]).describe()
        assert missing.value.status == RPCStatusCode.NOT_FOUND
        # Another studio has a quota of its own.
        other = temporal_api.studio()
        fine = await call(temporal_api.post, other, ingest_doc(new_title_id()))
        assert fine.status_code == 202, fine.text
        started.append(fine.json()["workflow_id"])
    finally:
        for wf in started:
            await terminate(temporal_env.client, wf)
