"""The API's side of a viewer's analytics consent: reading it for an event batch, and the one
way viewer events reach the log with it applied.

Every route that appends viewer events (``POST /v1/events``, the ``qoe`` event of
``POST /v1/qoe``, and any server-side event) goes through ``append_consented``: behavioural
events of an opted-out account are dropped there, operational ones anonymised (the rule is
events/privacy.py; the mirror it reads, events/consent.py).
"""

from __future__ import annotations

from sqlalchemy.exc import SQLAlchemyError

from reelflow.events.consent import Consent, read_consent, write_consent
from reelflow.events.privacy import apply_consent
from reelflow.events.schema import StoredEvent
from reelflow.playback_api.auth.auth import Viewer
from reelflow.playback_api.delivery.viewer_events import append_events
from reelflow.playback_api.http.context import ApiContext
from reelflow.playback_api.http.problems import Problem

_CATALOG_DOWN = "the catalog is not reachable"


async def consent_of(ctx: ApiContext, account: str) -> Consent:
    """The account's consent (the Redis mirror; the catalog on a miss)."""
    try:
        return await read_consent(
            ctx.redis, ctx.engine, account, ctx.settings.analytics_consent_default
        )
    except SQLAlchemyError as exc:
        # Unknown consent: refuse the batch (the player retries) rather than guess.
        raise Problem("service_unavailable", _CATALOG_DOWN) from exc


async def set_consent(ctx: ApiContext, account: str, consent: bool) -> Consent:
    try:
        return await write_consent(
            ctx.redis, ctx.engine, account, consent, ctx.settings.analytics_consent_default
        )
    except SQLAlchemyError as exc:
        raise Problem("service_unavailable", _CATALOG_DOWN) from exc


async def append_consented(ctx: ApiContext, viewer: Viewer, events: list[StoredEvent]) -> int:
    """Append the viewer's events as their consent allows; returns how many were dropped."""
    if not events:
        return 0
    consent = await consent_of(ctx, viewer.sub)
    kept, dropped = apply_consent(events, consent.analytics)
    await append_events(ctx, kept)
    return dropped
