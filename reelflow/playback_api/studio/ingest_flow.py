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
from reelflow.playback_api.studio import quotas
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
    title_id: str = Field(description="your id for the title, as you sent it")
    catalog_title_id: str = Field(
        description="the catalog's id for it (playback, callbacks): `<studio id>--<title_id>`"
        " for titles first delivered since namespaces (older titles kept their id)"
    )
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


def _not_yours() -> Problem:
    # One answer for every id a studio cannot use; with a namespace per studio it can only
    # come from the studio's own namespace, so it says nothing about any other studio.
    return Problem("forbidden", "this title id is not available to you")


async def _reuse_policy(ctx: ApiContext, catalog_id: str, version: int) -> WorkflowIDReusePolicy:
    """A version whose run ended before anything was published (failed, QC failed,
    terminated) may be delivered again: a new run under the same id. Once published,
    taken down or rejected, a closed run is final and a redelivery joins it."""
    final = await asyncio.to_thread(records.version_is_final, ctx.engine, catalog_id, version)
    if final:
        return WorkflowIDReusePolicy.REJECT_DUPLICATE
    return WorkflowIDReusePolicy.ALLOW_DUPLICATE


async def _start_title(
    ctx: ApiContext, studio_id: str, body: IngestBody, catalog_id: str
) -> IngestAccepted:
    client = await ctx.temporal()
    wf_id = workflow_id(catalog_id, body.version)
    reuse = await _reuse_policy(ctx, catalog_id, body.version)
    try:
        # A version started before the "@v" ids runs under its legacy id: join that run.
        found = (
            await find_title_run(client, catalog_id, body.version, rpc_timeout=RPC_TIMEOUT)
            if body.version > 1
            else None
        )
        if found is not None:
            handle, wf_id = found, found.id
        else:
            try:
                handle = await client.start_workflow(
                    TitleWorkflow.run,
                    body.to_title_input(catalog_id, studio_id, ctx.settings.media_queue),
                    id=wf_id,
                    task_queue=ctx.settings.control_queue,
                    # The same id joins the running workflow: a duplicate delivery starts
                    # nothing.
                    id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                    id_reuse_policy=reuse,
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
        raise _not_yours()
    suffix = f"?version={body.version}" if body.version > 1 else ""
    return IngestAccepted(
        title_id=body.title_id,
        catalog_title_id=catalog_id,
        version=body.version,
        workflow_id=wf_id,
        status_url=f"{ctx.public_base}/v1/studio/titles/{body.title_id}{suffix}",
    )


async def _claim_title(ctx: ApiContext, studio: Studio, body: IngestBody) -> records.TitleClaim:
    """The studio's title in its own namespace, claimed (one conditional insert) if new."""
    try:
        title = await asyncio.to_thread(
            records.claim_title, ctx.engine, studio.id, body.title_id, body.name, body.version
        )
    except records.BadStudioTitleId as exc:
        raise Problem(
            "validation_error",
            "the ingest body did not match the schema",
            errors=[{"loc": ["body", "title_id"], "msg": str(exc), "type": "value_error"}],
        ) from None
    if title is None:
        raise _not_yours()
    return title


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
    # Counted before anything is claimed or started: a 429 leaves nothing behind.
    await quotas.count_ingest(ctx, studio)
    title = await _claim_title(ctx, studio, body)
    claim: int | None = None
    if idempotency_key is not None:
        outcome = await _claim(ctx, studio.id, idempotency_key, body_hash, body.title_id)
        if isinstance(outcome, IngestRequestRow):
            return _answer(outcome)
        claim = outcome
    try:
        accepted = await _start_title(ctx, studio.id, body, title.catalog_id)
    except BaseException:
        if claim is not None:
            await asyncio.to_thread(records.release_ingest_request, ctx.engine, claim)
        if title.created:  # nothing started: the id is free again, as if never delivered
            await asyncio.to_thread(records.release_title, ctx.engine, title.catalog_id, studio.id)
        raise
    doc = accepted.model_dump(mode="json")
    if claim is not None:
        await asyncio.to_thread(records.complete_ingest_request, ctx.engine, claim, 202, doc)
    return JSONResponse(doc, status_code=202, headers={"Location": accepted.status_url})
