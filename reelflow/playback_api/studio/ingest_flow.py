"""The studio ingest flow behind ``POST /v1/studio/ingest``, after the key and signature checks.

Replays a stored answer for a known ``Idempotency-Key``, parses the body, claims the title
id for the studio, claims the idempotency key (waiting for, or taking over, a request still
in flight with it), then starts or joins the title's workflow and stores the 202 answer.
The order and the reasons are in routes/studio.py's docstring.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from temporalio.client import WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from reelflow.catalog import studio_ingest as records
from reelflow.catalog.models import IngestRequestRow, Studio, as_utc
from reelflow.domain.ids import workflow_id
from reelflow.playback_api.http.context import ApiContext
from reelflow.playback_api.http.problems import Problem
from reelflow.playback_api.studio.ingest_body import (
    FETCHABLE_SCHEMES,
    IngestBody,
    parse_ingest_body,
)
from reelflow.workflows.client import find_title_run
from reelflow.workflows.title import TitleWorkflow

MEMO_STUDIO = "studio_id"
RPC_TIMEOUT = timedelta(seconds=10)
PENDING_WAIT_S = 5.0
# A claim older than this belongs to a request that died mid-flight: it may be taken over
# (safe: the workflow id is deterministic and USE_EXISTING joins the same run).
STALE_CLAIM_S = 60.0
IDEMPOTENT_REPLAYED = "Idempotent-Replayed"


class IngestAccepted(BaseModel):
    title_id: str
    version: int
    workflow_id: str
    status_url: str = Field(description="GET it with your X-Api-Key to follow the title")


def _source_schemes_setting(ctx: ApiContext) -> frozenset[str]:
    configured = {s.strip().lower() for s in ctx.settings.ingest_source_schemes.split(",")}
    return frozenset(configured & FETCHABLE_SCHEMES)


def _answer(row: IngestRequestRow) -> JSONResponse:
    headers = {IDEMPOTENT_REPLAYED: "true"}
    location = row.response.get("status_url")
    if isinstance(location, str):
        headers["Location"] = location
    return JSONResponse(row.response, status_code=row.status_code, headers=headers)


def _conflict() -> Problem:
    return Problem(
        "idempotency_conflict",
        "this Idempotency-Key was already used with a different body; use a new key",
    )


async def _claim(
    ctx: ApiContext, studio_id: str, key: str, body_hash: str, title_id: str
) -> int | IngestRequestRow:
    """Own the key (its new row id) or get the finished answer another request stored."""
    deadline = time.monotonic() + PENDING_WAIT_S
    while True:
        row_id = await asyncio.to_thread(
            records.claim_ingest_request, ctx.engine, studio_id, key, body_hash, title_id
        )
        if row_id is not None:
            return row_id
        row = await asyncio.to_thread(records.find_ingest_request, ctx.engine, studio_id, key)
        if row is not None:
            if row.body_sha256 != body_hash:
                raise _conflict()
            if row.status_code != records.PENDING:
                return row
            created = as_utc(row.created_at)
            assert row.id is not None and created is not None
            if (datetime.now(UTC) - created).total_seconds() > STALE_CLAIM_S:
                await asyncio.to_thread(records.release_ingest_request, ctx.engine, row.id)
                continue
        # row None: the holder released it (its start failed), so claim again; the
        # deadline also bounds the loop should the insert keep failing for another reason.
        if time.monotonic() > deadline:
            raise Problem(
                "service_unavailable",
                "an earlier request with this Idempotency-Key is still in flight; retry shortly",
                headers={"Retry-After": "2"},
            )
        if row is not None:
            await asyncio.sleep(0.1)


async def workflow_owner(handle: WorkflowHandle[Any, Any]) -> tuple[str | None, str]:
    """The studio recorded in the run's memo (None: started by ops) and the run's status."""
    desc = await handle.describe(rpc_timeout=RPC_TIMEOUT)
    owner = (await desc.memo()).get(MEMO_STUDIO)
    status = desc.status.name if desc.status is not None else "UNKNOWN"
    return (owner if isinstance(owner, str) else None), status


async def _start_title(ctx: ApiContext, studio_id: str, body: IngestBody) -> IngestAccepted:
    client = await ctx.temporal()
    wf_id = workflow_id(body.title_id, body.version)
    try:
        # A version started before the "@v" ids runs under its legacy id: join that run.
        found = (
            await find_title_run(client, body.title_id, body.version, rpc_timeout=RPC_TIMEOUT)
            if body.version > 1
            else None
        )
        if found is not None:
            handle, wf_id = found, found.id
        else:
            try:
                handle = await client.start_workflow(
                    TitleWorkflow.run,
                    body.to_title_input(studio_id, ctx.settings.media_queue),
                    id=wf_id,
                    task_queue=ctx.settings.control_queue,
                    # The same id joins the running workflow: a duplicate delivery starts
                    # nothing.
                    id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                    # Which studio started the run: ownership before the catalog row exists.
                    memo={MEMO_STUDIO: studio_id},
                    rpc_timeout=RPC_TIMEOUT,
                )
            except WorkflowAlreadyStartedError:
                handle = client.get_workflow_handle(wf_id)  # closed run of this version
        # Checked after starting, not before: two studios racing for one id both land on
        # the same run, and only the one that started it passes.
        owner, _ = await workflow_owner(handle)
    except RPCError as exc:
        raise Problem("service_unavailable", "the workflow service did not answer") from exc
    if owner != studio_id:
        raise Problem("forbidden", "this title id belongs to another studio")
    suffix = f"?version={body.version}" if body.version > 1 else ""
    return IngestAccepted(
        title_id=body.title_id,
        version=body.version,
        workflow_id=wf_id,
        status_url=f"{ctx.public_base}/v1/studio/titles/{body.title_id}{suffix}",
    )


async def run_ingest(
    ctx: ApiContext, studio: Studio, raw: bytes, idempotency_key: str | None
) -> JSONResponse:
    body_hash = hashlib.sha256(raw).hexdigest()
    if idempotency_key is not None:
        earlier = await asyncio.to_thread(
            records.find_ingest_request, ctx.engine, studio.id, idempotency_key
        )
        if earlier is not None:
            if earlier.body_sha256 != body_hash:
                raise _conflict()
            if earlier.status_code != records.PENDING:
                return _answer(earlier)
    # In a thread: validating the URLs resolves their hosts (blocking DNS).
    body = await asyncio.to_thread(parse_ingest_body, raw, _source_schemes_setting(ctx), studio.id)
    # The first accepted ingest of an id claims it for good (one conditional insert, so
    # of two racing studios exactly one wins); ops-ingested titles belong to no studio.
    owner = await asyncio.to_thread(
        records.claim_title, ctx.engine, body.title_id, studio.id, body.name, body.version
    )
    if owner != studio.id:
        raise Problem("forbidden", "this title id belongs to another studio")
    claim: int | None = None
    if idempotency_key is not None:
        outcome = await _claim(ctx, studio.id, idempotency_key, body_hash, body.title_id)
        if isinstance(outcome, IngestRequestRow):
            return _answer(outcome)
        claim = outcome
    try:
        accepted = await _start_title(ctx, studio.id, body)
    except BaseException:
        if claim is not None:
            await asyncio.to_thread(records.release_ingest_request, ctx.engine, claim)
        raise
    doc = accepted.model_dump(mode="json")
    if claim is not None:
        await asyncio.to_thread(records.complete_ingest_request, ctx.engine, claim, 202, doc)
    return JSONResponse(doc, status_code=202, headers={"Location": accepted.status_url})
