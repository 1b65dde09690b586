"""The API's side of a viewer's analytics consent: reading it for an event batch, and the one
way viewer events reach the log with it applied.

Every route that appends viewer events (``POST /v1/events``, the ``qoe`` event of
``POST /v1/qoe``, and any server-side event) goes through ``append_records`` (or
``append_consented`` for models): behavioural events of an opted-out account are dropped
there, operational ones anonymised (the rule is events/privacy.py; the mirror it reads,
events/consent.py; Redis applies it as it appends, delivery/viewer_events.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from reelflow.events.consent import Consent, read_consent, write_consent
from reelflow.events.log import encode_entry
from reelflow.events.privacy import anonymised_records
from reelflow.events.schema import StoredEvent
from reelflow.playback_api.auth.auth import Viewer
from reelflow.playback_api.auth.revocation import refusal
from reelflow.playback_api.delivery.sessions import rate_limited
from reelflow.playback_api.delivery.viewer_events import Gate, Status, append_entries
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
    return await append_records(ctx, viewer.sub, [event.model_dump() for event in events])


async def append_records(
    ctx: ApiContext,
    account: str,
    records: Sequence[dict[str, Any]],
    *,
    checks: Gate | None = None,
) -> int:
    """Append the account's records (``schema.stored_record``) as its consent allows, in one
    round trip once its consent is mirrored; ``checks`` first refuse a revoked token (401)
    or a request over the rate limit (429), appending nothing. Returns how many records
    were dropped."""
    if not records and checks is None:
        return 0
    consented = [encode_entry(record) for record in records]
    anonymised = [encode_entry(record) for record in anonymised_records(records)]
    done = await append_entries(ctx, account, consented, anonymised, checks=checks)
    problem = refusal(done.detail) if done.status is Status.REVOKED else None
    if problem is not None:
        raise problem
    if done.status is Status.RATE_LIMITED:
        assert checks is not None
        raise rate_limited(checks.limit, checks.window_s)
    if done.status is Status.CONSENT_UNKNOWN and records:
        consent = await consent_of(ctx, account)  # the catalog, and the mirror refilled
        done = await append_entries(ctx, account, consented, anonymised, consent=consent.analytics)
    return len(records) - len(anonymised) if done.status is Status.ANONYMISED else 0
