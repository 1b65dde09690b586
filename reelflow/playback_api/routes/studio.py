"""Studio ingest: a signed webhook starts a title's lifecycle; studios follow its status.

``POST /v1/studio/ingest`` checks, in order: the API key (401 invalid_api_key), the
``Reelflow-Signature`` over the raw body (401 bad_signature; 409 replayed_request when it
is stale or this exact delivery was seen), the ``Idempotency-Key`` (a stored answer is
replayed; another body under the same key is 422 idempotency_conflict), the body itself
(422 validation_error), ownership of the title id (403 forbidden: the first accepted
ingest of an id claims it in the catalog, atomically, and only ``reelflow titles
transfer`` moves it; the run's memo must name this studio too). Then it starts, or joins,
the title's workflow: 202.

``POST /v1/studio/uploads`` hands a studio a presigned PUT URL into the store (S3 only)
and the ``store:uploads/<studio id>/...`` source to name in the ingest body afterwards:
the way in for studios whose masters are not on a public web server.

Only 202 answers are stored under an Idempotency-Key: a refusal is recomputed on retry
(it is deterministic for the same body), and a studio that fixes a rejected body may send
it again under the same key. A 503 stores nothing, so a retry can still succeed.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Security
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
)
from temporalio.client import (
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from reelflow.catalog import studio_ingest as records
from reelflow.catalog.models import IngestRequestRow, Studio, as_utc
from reelflow.domain.ids import workflow_id
from reelflow.ingest.sources import STORE_PREFIX, studio_uploads_prefix
from reelflow.lifecycle import contracts as c
from reelflow.lifecycle.progress import overall_percent
from reelflow.playback_api.auth import webhook_auth
from reelflow.playback_api.http.context import ApiContext, get_ctx
from reelflow.playback_api.http.problems import Problem
from reelflow.playback_api.routes import API_V1
from reelflow.playback_api.studio.ingest_body import (
    FETCHABLE_SCHEMES,
    IDEMPOTENCY_KEY_RE,
    TITLE_ID_PATTERN,
    IngestBody,
    inline_defs,
    parse_ingest_body,
)
from reelflow.storage import StorageError
from reelflow.studios import accounts as studios
from reelflow.studios.signatures import SIGNATURE_HEADER
from reelflow.workflows.client import find_title_run
from reelflow.workflows.title import TitleWorkflow

router = APIRouter(prefix=f"{API_V1}/studio", tags=["studio"])

MEMO_STUDIO = "studio_id"
RPC_TIMEOUT = timedelta(seconds=10)
QUERY_TIMEOUT = timedelta(seconds=5)
PENDING_WAIT_S = 5.0
# A claim older than this belongs to a request that died mid-flight: it may be taken over
# (safe: the workflow id is deterministic and USE_EXISTING joins the same run).
STALE_CLAIM_S = 60.0
IDEMPOTENT_REPLAYED = "Idempotent-Replayed"
# Long enough to start a multi-GB PUT (S3 checks the signature when the request begins).
UPLOAD_URL_TTL_S = 3600


def _source_schemes_setting(ctx: ApiContext) -> frozenset[str]:
    configured = {s.strip().lower() for s in ctx.settings.ingest_source_schemes.split(",")}
    return frozenset(configured & FETCHABLE_SCHEMES)


# ---- responses ---------------------------------------------------------------------------


class IngestAccepted(BaseModel):
    title_id: str
    version: int
    workflow_id: str
    status_url: str = Field(description="GET it with your X-Api-Key to follow the title")


class StudioRendition(BaseModel):
    """A rendition as a studio sees it: what was made, not where it is stored."""

    name: str
    kind: str
    codec: str | None = None
    width: int | None = None
    height: int | None = None
    bitrate_kbps: int | None = None
    language: str | None = None
    channels: int | None = None


class StudioTitleStatus(BaseModel):
    """The title workflow's ``status`` query, plus an overall percentage."""

    title_id: str
    version: int
    workflow_id: str
    workflow_status: str = Field(description="RUNNING, COMPLETED, FAILED, TERMINATED, ...")
    percent: float = Field(description="weighted progress over the processing stages")
    state: str
    stage: str
    stages: list[c.StageState]
    qc_summary: str | None = None
    qc_failures: list[str] = Field(default_factory=list)
    qc_warnings: list[str] = Field(default_factory=list)
    ladder: list[c.RungSpec] = Field(default_factory=list)
    renditions: list[StudioRendition] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)
    window_start: str | None = None
    window_end: str | None = None


# ---- authentication ----------------------------------------------------------------------

_api_key_header = APIKeyHeader(
    name="X-Api-Key",
    auto_error=False,
    description="Studio API key (rf_sk_...), from `reelflow studios add`",
)


async def current_studio(
    request: Request,
    api_key: str | None = Security(_api_key_header),
    ctx: ApiContext = Depends(get_ctx),
) -> Studio:
    if not api_key:
        raise Problem("invalid_api_key", "an X-Api-Key header is required")
    studio = await asyncio.to_thread(studios.authenticate, ctx.engine, api_key)
    if studio is None:
        raise Problem("invalid_api_key", "unknown or disabled API key")
    request.state.account = f"studio:{studio.id}"
    return studio


# ---- the ingest flow ---------------------------------------------------------------------


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


async def _workflow_owner(handle: WorkflowHandle[Any, Any]) -> tuple[str | None, str]:
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
        owner, _ = await _workflow_owner(handle)
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


async def _ingest(
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


INGEST_OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": (
            "JSON, signed as sent: `Reelflow-Signature` covers these exact bytes, so the "
            "server parses the raw body only after checking the signature."
        ),
        "content": {"application/json": {"schema": inline_defs(IngestBody.model_json_schema())}},
    }
}


@router.post(
    "/ingest",
    status_code=202,
    response_model=IngestAccepted,
    openapi_extra=INGEST_OPENAPI,
    responses={
        202: {
            "description": "Workflow started (or joined); follow it at `status_url`",
            "headers": {
                "Location": {"description": "the status URL", "schema": {"type": "string"}},
                IDEMPOTENT_REPLAYED: {
                    "description": "`true` when this is the stored answer to an earlier request",
                    "schema": {"type": "string"},
                },
            },
        },
        401: {"description": "invalid_api_key or bad_signature"},
        403: {"description": "forbidden: the title id belongs to another studio"},
        409: {"description": "replayed_request: a stale timestamp or an exact re-send"},
        413: {"description": "payload_too_large"},
        422: {"description": "validation_error or idempotency_conflict"},
        503: {"description": "service_unavailable: nothing was stored; retry"},
    },
)
async def ingest(
    request: Request,
    studio: Studio = Depends(current_studio),
    ctx: ApiContext = Depends(get_ctx),
    signature: str | None = Header(
        default=None,
        alias=SIGNATURE_HEADER,
        description=(
            '`t=<unix seconds>,v1=<hex HMAC-SHA256(webhook secret, "<t>." + raw body)>`; '
            "several v1= entries are accepted during a secret rotation"
        ),
    ),
    idempotency_key: str | None = Header(
        default=None,
        alias="Idempotency-Key",
        description="1-200 of A-Z a-z 0-9 . _ : - ; a retry under the same key and body "
        "gets the first answer back",
    ),
) -> JSONResponse:
    """Deliver a title: start its lifecycle workflow (or join the one already running)."""
    raw = await request.body()
    now = time.time()
    secrets = await asyncio.to_thread(studios.active_webhook_secrets, ctx.settings, studio, now)
    signed_at = webhook_auth.verify_signature(secrets, signature, raw, now=now)
    if idempotency_key is not None and not IDEMPOTENCY_KEY_RE.fullmatch(idempotency_key):
        raise Problem(
            "validation_error",
            "Idempotency-Key must be 1-200 characters of A-Z a-z 0-9 . _ : -",
            errors=[
                {
                    "loc": ["header", "Idempotency-Key"],
                    "msg": "must match ^[A-Za-z0-9._:-]{1,200}$",
                    "type": "string_pattern_mismatch",
                }
            ],
        )
    seen = webhook_auth.replay_key(studio.id, signed_at, raw)
    await webhook_auth.remember_delivery(ctx.redis, seen)
    try:
        return await _ingest(ctx, studio, raw, idempotency_key)
    except Problem as problem:
        if problem.status >= 500:
            await webhook_auth.forget_delivery(ctx.redis, seen)
        raise
    except Exception:
        # Not processed: the exact same delivery may be retried once the fault is gone.
        await webhook_auth.forget_delivery(ctx.redis, seen)
        raise


@router.get("/titles/{title_id}", response_model=StudioTitleStatus)
async def title_status(
    title_id: str = Path(pattern=TITLE_ID_PATTERN, max_length=64),
    version: int | None = Query(default=None, ge=1, le=1000, description="default: newest"),
    studio: Studio = Depends(current_studio),
    ctx: ApiContext = Depends(get_ctx),
) -> StudioTitleStatus:
    """Lifecycle status of one of your titles (404 for titles of other studios)."""
    not_found = Problem("not_found", "you have no title with this id")
    title = await asyncio.to_thread(records.find_title, ctx.engine, title_id)
    if title is not None and title.studio_id != studio.id:
        raise not_found
    wanted = version or (title.version if title is not None else 1)
    client = await ctx.temporal()
    try:
        # Under its id, or the legacy id of a version started before the "@v" ids.
        handle = await find_title_run(client, title_id, wanted, rpc_timeout=RPC_TIMEOUT)
        if handle is None:
            raise not_found
        owner, run_status = await _workflow_owner(handle)
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise not_found from None
        raise Problem("service_unavailable", "the workflow service did not answer") from exc
    # A run ops started by hand (no memo) is shown when the catalog says the title is yours.
    if owner != studio.id and not (owner is None and title is not None):
        raise not_found
    try:
        status: c.TitleStatus = await handle.query(TitleWorkflow.status, rpc_timeout=QUERY_TIMEOUT)
    except (RPCError, WorkflowQueryFailedError, WorkflowQueryRejectedError) as exc:
        raise Problem("service_unavailable", "no worker answered the status query") from exc
    return StudioTitleStatus.model_validate(
        {
            **asdict(status),
            # Internal object-store keys stay internal.
            "renditions": [
                {k: v for k, v in asdict(r).items() if k != "object_key"} for r in status.renditions
            ],
            "title_id": title_id,
            "version": wanted,
            "workflow_id": handle.id,
            "workflow_status": run_status,
            "percent": overall_percent(status),
        }
    )


# ---- presigned uploads -------------------------------------------------------------------


class UploadBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    name: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$",
        description="file name for the object: A-Z a-z 0-9 . _ -, at most 200, no leading dot",
        examples=["big-buck-bunny.mov"],
    )


class UploadGranted(BaseModel):
    source: str = Field(description="name this as the ingest body's `source` once uploaded")
    upload_url: str = Field(description="PUT the file's bytes here (no other credentials)")
    expires_at: str = Field(description="ISO 8601: the PUT must start before this")


@router.post(
    "/uploads",
    status_code=201,
    response_model=UploadGranted,
    responses={
        401: {"description": "invalid_api_key"},
        422: {"description": "validation_error: the file name"},
        501: {"description": "uploads_unavailable: the store is not S3"},
        503: {"description": "service_unavailable: the object store did not answer"},
    },
)
async def create_upload(
    body: UploadBody,
    studio: Studio = Depends(current_studio),
    ctx: ApiContext = Depends(get_ctx),
) -> UploadGranted:
    """A presigned PUT URL into your own uploads, and the `source` that then names it."""
    # A fresh directory per upload: two uploads of one file name never overwrite each other.
    key = f"{studio_uploads_prefix(studio.id)}{uuid.uuid4().hex}/{body.name}"
    expires_at = datetime.now(UTC) + timedelta(seconds=UPLOAD_URL_TTL_S)
    try:
        url = await asyncio.to_thread(ctx.store.upload_url, key, UPLOAD_URL_TTL_S)
    except StorageError as exc:
        raise Problem("service_unavailable", "the object store did not answer") from exc
    if url is None:
        raise Problem(
            "uploads_unavailable",
            "uploads need an S3 object store; this deployment stores objects on local disk",
        )
    return UploadGranted(
        source=f"{STORE_PREFIX}{key}",
        upload_url=url,
        expires_at=expires_at.isoformat().replace("+00:00", "Z"),
    )
