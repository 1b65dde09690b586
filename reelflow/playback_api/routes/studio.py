"""Studio ingest: a signed webhook starts a title's lifecycle; studios follow its status.

``POST /v1/studio/ingest`` checks, in order: the API key (401 invalid_api_key), the
``Reelflow-Signature`` over the raw body (401 bad_signature; 409 replayed_request when it
is stale or this exact delivery was seen), the ``Idempotency-Key`` (a stored answer is
replayed; another body under the same key is 422 idempotency_conflict), the body itself
(422 validation_error), the studio's ingest quota (429 rate_limited with Retry-After,
per minute and per hour: studio/quotas.py), then the title id in the studio's own
namespace (catalog id ``<studio>--<id>``: no studio's answer depends on another studio's
titles; the first accepted ingest claims it atomically and only ``reelflow titles
transfer`` moves it; 403 forbidden, one message, for an id the studio cannot use; the
run's memo must name this studio too). Then it starts, or joins, the title's workflow:
202. A version whose run failed before anything was published starts afresh when
delivered again; a claim whose first start failed is released.

``POST /v1/studio/uploads`` hands a studio a presigned POST into the store (S3 only),
whose signed policy names one key and caps the body at the studio's upload limit (the
store refuses more: EntityTooLarge), and the ``store:uploads/<studio id>/...`` source to
name in the ingest body afterwards: the way in for studios whose masters are not on a
public web server.

Only 202 answers are stored under an Idempotency-Key: a refusal is recomputed on retry
(it is deterministic for the same body), and a studio that fixes a rejected body may send
it again under the same key. A 503 stores nothing, so a retry can still succeed.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Security
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader
from pydantic import BaseModel, ConfigDict, Field

from reelflow.catalog.models import Studio
from reelflow.domain.ids import TITLE_ID_MAX_LENGTH, TITLE_ID_PATTERN
from reelflow.ingest.sources import STORE_PREFIX
from reelflow.playback_api.auth import webhook_auth
from reelflow.playback_api.http.context import ApiContext, get_ctx
from reelflow.playback_api.http.problems import Problem
from reelflow.playback_api.routes import API_V1
from reelflow.playback_api.studio import quotas
from reelflow.playback_api.studio.ingest_body import (
    IDEMPOTENCY_KEY_RE,
    IngestBody,
    inline_defs,
)
from reelflow.playback_api.studio.ingest_flow import (
    IDEMPOTENT_REPLAYED,
    IngestAccepted,
    run_ingest,
)
from reelflow.playback_api.studio.status import StudioTitleStatus, studio_title_status
from reelflow.storage import StorageError
from reelflow.storage.layout import upload_key
from reelflow.studios import accounts as studios
from reelflow.studios.signatures import SIGNATURE_HEADER

router = APIRouter(prefix=f"{API_V1}/studio", tags=["studio"])

# Long enough to start a multi-GB POST (S3 checks the policy when the request begins).
UPLOAD_URL_TTL_S = 3600


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
        403: {"description": "forbidden: the title id is not available to you"},
        409: {"description": "replayed_request: a stale timestamp or an exact re-send"},
        413: {"description": "payload_too_large"},
        422: {"description": "validation_error or idempotency_conflict"},
        429: {"description": "rate_limited: your ingest quota; Retry-After says when"},
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
        return await run_ingest(ctx, studio, raw, idempotency_key)
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
    title_id: str = Path(pattern=TITLE_ID_PATTERN, max_length=TITLE_ID_MAX_LENGTH),
    version: int | None = Query(default=None, ge=1, le=1000, description="default: newest"),
    studio: Studio = Depends(current_studio),
    ctx: ApiContext = Depends(get_ctx),
) -> StudioTitleStatus:
    """Lifecycle status of one of your titles (404 for titles of other studios)."""
    return await studio_title_status(ctx, studio, title_id, version)


# ---- presigned uploads -------------------------------------------------------------------


class UploadBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    name: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$",
        description="file name for the object: A-Z a-z 0-9 . _ -, at most 200, no leading dot",
        examples=["big-buck-bunny.mov"],
    )
    size: int | None = Field(
        default=None,
        ge=1,
        description="the file's size in bytes, if known: over your upload limit is a 413 now "
        "rather than a refusal by the store after the bytes were sent",
    )


class UploadFormOut(BaseModel):
    url: str = Field(description="POST a multipart/form-data body here")
    fields: dict[str, str] = Field(
        description="send every one of these form fields as given, then the file last, as "
        "the field `file`"
    )


class UploadGranted(BaseModel):
    source: str = Field(description="name this as the ingest body's `source` once uploaded")
    upload: UploadFormOut = Field(description="a presigned POST: no other credentials needed")
    max_bytes: int = Field(description="the store refuses a larger file (EntityTooLarge)")
    expires_at: str = Field(description="ISO 8601: the POST must start before this")


@router.post(
    "/uploads",
    status_code=201,
    response_model=UploadGranted,
    responses={
        401: {"description": "invalid_api_key"},
        413: {"description": "payload_too_large: the declared size is over your upload limit"},
        422: {"description": "validation_error: the file name or size"},
        501: {"description": "uploads_unavailable: the store is not S3"},
        503: {"description": "service_unavailable: the object store did not answer"},
    },
)
async def create_upload(
    body: UploadBody,
    studio: Studio = Depends(current_studio),
    ctx: ApiContext = Depends(get_ctx),
) -> UploadGranted:
    """A presigned POST into your own uploads, capped at your upload limit, and the
    `source` that then names it."""
    limit = quotas.upload_max_bytes(ctx.settings, studio)
    if body.size is not None and body.size > limit:
        raise Problem(
            "payload_too_large",
            f"the file is larger than your upload limit of {limit} bytes",
            max_bytes=limit,
        )
    # A fresh directory per upload: two uploads of one file name never overwrite each other.
    key = upload_key(studio.id, uuid.uuid4().hex, body.name)
    expires_at = datetime.now(UTC) + timedelta(seconds=UPLOAD_URL_TTL_S)
    try:
        form = await asyncio.to_thread(ctx.store.upload_form, key, limit, UPLOAD_URL_TTL_S)
    except StorageError as exc:
        raise Problem("service_unavailable", "the object store did not answer") from exc
    if form is None:
        raise Problem(
            "uploads_unavailable",
            "uploads need an S3 object store; this deployment stores objects on local disk",
        )
    return UploadGranted(
        source=f"{STORE_PREFIX}{key}",
        upload=UploadFormOut(url=form.url, fields=form.fields),
        max_bytes=form.max_bytes,
        expires_at=expires_at.isoformat().replace("+00:00", "Z"),
    )
