"""Viewer events (``POST /v1/events``): a batch validated event by event, appended in one
Redis round trip to the event log that the events writer turns into Parquet.

The account's analytics consent is applied on the way in (delivery/viewer_privacy.py): an
opted-out viewer's behavioural events are counted as ``discarded``, not appended.

Per-event, not all-or-nothing: a batch with a bad event still appends every good one, and
the 422 problem names each bad event's index and field (``errors``) beside ``accepted``, so
a player that retries only what was refused never sends an accepted event twice. An event
naming a session must name one of the caller's own (live, or ended within the QoE grace).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from reelflow.events.schema import EventRefused, StoredEvent, parse_client_event, store
from reelflow.playback_api.auth.auth import Viewer
from reelflow.playback_api.delivery.viewer_events import viewer_context
from reelflow.playback_api.delivery.viewer_privacy import append_consented
from reelflow.playback_api.http.context import ApiContext, current_viewer, get_ctx
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


class EventsAccepted(BaseModel):
    accepted: int = Field(description="valid events taken, the discarded ones included")
    discarded: int = Field(
        description="of those, behavioural events dropped because the account opted out of "
        "analytics (docs/privacy.md): not errors, never to be sent again"
    )


async def _check_session(
    ctx: ApiContext, viewer: Viewer, session: str | None, seen: dict[str, bool]
) -> None:
    if session is None:
        return
    if session not in seen:
        seen[session] = await playing_session(ctx, session, viewer.sub) is not None
    if not seen[session]:
        raise EventRefused("session", "no playback session of this account")


@router.post(
    "/events",
    status_code=202,
    response_model=EventsAccepted,
    responses={
        413: {"description": f"batch over {MAX_BATCH_BYTES} bytes"},
        422: {"description": "problem with `errors` (index, field, detail) and `accepted`"},
    },
)
async def post_events(
    body: EventBatchIn,
    request: Request,
    viewer: Viewer = Depends(current_viewer),
    ctx: ApiContext = Depends(get_ctx),
) -> EventsAccepted:
    """Append a batch of viewer events (202); bad events are named, good ones kept."""
    if len(await request.body()) > MAX_BATCH_BYTES:
        raise Problem("payload_too_large", f"an event batch is at most {MAX_BATCH_BYTES} bytes")
    await ctx.sessions.hit_rate_limit(f"events:{viewer.sub}", RATE_LIMIT_PER_MIN)
    base = viewer_context(ctx, viewer)
    good: list[StoredEvent] = []
    errors: list[dict[str, object]] = []
    sessions: dict[str, bool] = {}
    for index, raw in enumerate(body.events):
        try:
            event = parse_client_event(raw)
            await _check_session(ctx, viewer, event.session, sessions)
            good.append(store(event, base))
        except EventRefused as refused:
            errors.append({"index": index, "field": refused.field, "detail": refused.message})
    discarded = await append_consented(ctx, viewer, good)
    if errors:
        detail = f"{len(errors)} of {len(body.events)} events refused; the others were accepted"
        raise Problem(
            "validation_error", detail, errors=errors, accepted=len(good), discarded=discarded
        )
    return EventsAccepted(accepted=len(good), discarded=discarded)
