"""Viewer events (``POST /v1/events``): a batch validated in one call, event by event in
what it reports, appended in one Redis round trip to the event log that the events writer
turns into Parquet.

The account's analytics consent is applied on the way in (delivery/viewer_privacy.py): an
opted-out viewer's behavioural events are counted as ``discarded``, not appended.

Per-event, not all-or-nothing: a batch with a bad event still appends every good one, and
the 422 problem names each bad event's index and field (``errors``) beside ``accepted``, so
a player that retries only what was refused never sends an accepted event twice. An event
naming a session must name one of the caller's own (live, or ended within the QoE grace).

A fast-path route (http/fast_params.py): its body is validated once, on the raw bytes, as
a batch of typed events; only a batch that fails is parsed again to tell the bad events
from the good. Redis, per request: the token's revocation check, then one script that
counts the rate limit, reads the consent mirror and appends (viewer_events.py). A batch
naming sessions is counted first, then its sessions looked up (qoe.playing_session), then
appended: the limit still comes before any per-session work.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError

from reelflow.events.schema import (
    AnyClientEvent,
    ClientEvent,
    EventRefused,
    parse_client_batch,
    stored_record,
)
from reelflow.playback_api.auth.auth import Viewer
from reelflow.playback_api.delivery.viewer_events import Gate, gate, viewer_context
from reelflow.playback_api.delivery.viewer_privacy import append_records
from reelflow.playback_api.http import fast_params as fp
from reelflow.playback_api.http.context import (
    ApiContext,
    api_context,
    viewer_without_revocation_check,
)
from reelflow.playback_api.http.problems import Problem
from reelflow.playback_api.routes import API_V1
from reelflow.playback_api.routes.qoe import playing_session

router = APIRouter(prefix=API_V1, tags=["events"])

MAX_EVENTS = 100
MAX_BATCH_BYTES = 64 * 1024
# A player batches every few seconds; 120 batches a minute per account is room to spare.
RATE_LIMIT_PER_MIN = 120


class EventBatchIn(BaseModel):
    events: list[dict[str, Any]] = Field(
        min_length=1,
        max_length=MAX_EVENTS,
        description='each {"id": <UUID>, "type": <name>, "ts": <ISO 8601>, ...its fields} '
        "(docs/events.md lists the types and fields)",
    )


class _ValidBatch(BaseModel):
    """The common case, a batch whose every event is valid, checked in one call."""

    events: list[AnyClientEvent] = Field(min_length=1, max_length=MAX_EVENTS)


class EventsAccepted(BaseModel):
    accepted: int = Field(description="valid events taken, the discarded ones included")
    discarded: int = Field(
        description="of those, behavioural events dropped because the account opted out of "
        "analytics (docs/privacy.md): not errors, never to be sent again"
    )


async def _parsed(
    request: Request, viewer: Viewer, raw: bytes
) -> tuple[dict[int, ClientEvent], dict[int, EventRefused], int]:
    """The batch's valid events and refusals by index, and how many events it holds. A body
    that is no batch at all is a 413 or 422 problem, after the revocation check (a revoked
    token's 401 comes first, as on every other route)."""
    if len(raw) <= MAX_BATCH_BYTES:
        try:
            events = _ValidBatch.model_validate_json(raw).events
            return dict(enumerate(events)), {}, len(events)
        except ValidationError:
            pass
    await api_context(request).revocations.check(viewer)
    if len(raw) > MAX_BATCH_BYTES:
        raise Problem("payload_too_large", f"an event batch is at most {MAX_BATCH_BYTES} bytes")
    batch = fp.validated_json(raw, EventBatchIn)  # a batch that is not one: a 422 for all
    valid, refused = parse_client_batch(batch.events)
    return valid, refused, len(batch.events)


async def _foreign_sessions(
    ctx: ApiContext, viewer: Viewer, valid: dict[int, ClientEvent]
) -> dict[int, EventRefused]:
    """The events naming a session that is not one of the caller's own."""
    named = {event.session for event in valid.values() if event.session is not None}
    foreign = {s for s in named if await playing_session(ctx, s, viewer.sub) is None}
    return {
        index: EventRefused("session", "no playback session of this account")
        for index, event in valid.items()
        if event.session in foreign
    }


@router.post(
    "/events",
    status_code=202,
    response_model=EventsAccepted,
    responses={
        413: {"description": f"batch over {MAX_BATCH_BYTES} bytes"},
        422: {"description": "problem with `errors` (index, field, detail) and `accepted`"},
    },
    openapi_extra={"requestBody": fp.body_doc(EventBatchIn), "security": fp.BEARER},
)
async def post_events(request: Request) -> JSONResponse:
    """Append a batch of viewer events (202); bad events are named, good ones kept."""
    # Fast path (http/fast_params.py): the Request only, the body validated by hand. The
    # token's revocation is checked by the append script (its gate), before anything else.
    viewer = await viewer_without_revocation_check(request)
    # For the access log, a 429 included (a revoked token's 401 names its account too).
    request.state.account = viewer.sub
    ctx = api_context(request)
    valid, refused, sent = await _parsed(request, viewer, await request.body())
    checks: Gate | None = gate(ctx, viewer, f"events:{viewer.sub}", RATE_LIMIT_PER_MIN)
    if any(event.session is not None for event in valid.values()):
        await append_records(ctx, viewer.sub, [], checks=checks)  # before the lookups
        checks = None
        refused |= await _foreign_sessions(ctx, viewer, valid)
    base, now = viewer_context(ctx, viewer), datetime.now(UTC)
    records = []
    for index, event in valid.items():
        if index in refused:
            continue
        try:
            records.append(stored_record(event, base, now))
        except EventRefused as exc:
            refused[index] = exc
    discarded = await append_records(ctx, viewer.sub, records, checks=checks)
    if refused:
        errors = [
            {"index": index, "field": exc.field, "detail": exc.message}
            for index, exc in sorted(refused.items())
        ]
        detail = f"{len(errors)} of {sent} events refused; the others were accepted"
        raise Problem(
            "validation_error", detail, errors=errors, accepted=len(records), discarded=discarded
        )
    return JSONResponse({"accepted": len(records), "discarded": discarded}, status_code=202)
