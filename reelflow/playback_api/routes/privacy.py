"""A viewer's privacy: their analytics consent (``/v1/me/privacy``, viewer token) and the
erasure of an account's events with its audit log (``/v1/admin/...``, admin token).

What consent does to events, and the erasure steps: docs/privacy.md.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field, StrictBool
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from reelflow.catalog.models import ErasureAudit
from reelflow.catalog.viewer_privacy import recent_erasures
from reelflow.config import Settings
from reelflow.events.consent import Consent
from reelflow.events.privacy import ACCOUNT_PATTERN
from reelflow.events.service import ErasureFailed, Events
from reelflow.playback_api.auth.auth import Viewer
from reelflow.playback_api.delivery.viewer_privacy import consent_of, set_consent
from reelflow.playback_api.http.context import ApiContext, current_admin, current_viewer, get_ctx
from reelflow.playback_api.http.problems import Problem
from reelflow.playback_api.routes import API_V1
from reelflow.recs.rows_cache import ROWS_PREFIX as RECS_ROWS_PREFIX

router = APIRouter(prefix=API_V1, tags=["privacy"])

# A player has no reason to flip the setting more than a few times a minute.
RATE_LIMIT_PER_MIN = 30
MAX_ERASURES_PAGE = 200
MAX_ID = 2**63 - 1  # SQLite's largest integer (a larger one is an OverflowError, not a row)


class PrivacyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    analytics_consent: StrictBool = Field(
        description="false: behavioural events are dropped, operational ones anonymised"
    )


class PrivacyOut(BaseModel):
    analytics_consent: bool = Field(description="what applies to the account's events now")
    is_default: bool = Field(
        description="the account made no choice: the deployment's default applies"
    )

    @classmethod
    def of(cls, consent: Consent) -> PrivacyOut:
        return cls(analytics_consent=consent.analytics, is_default=consent.is_default)


class ErasureOut(BaseModel):
    id: int
    account: str
    actor: str = Field(description='"cli", or the admin token\'s subject')
    status: str = Field(description="started (still so after a crash), done, failed")
    stream_entries: int = Field(description="entries removed from the stream")
    files_rewritten: int = Field(description="event files rewritten (or deleted, left empty)")
    rows: int = Field(description="events removed from the files")
    reason: str | None = Field(description="why it failed")
    started_at: datetime
    finished_at: datetime | None

    @classmethod
    def of(cls, row: ErasureAudit) -> ErasureOut:
        return cls.model_validate(row, from_attributes=True)


class ErasurePage(BaseModel):
    erasures: list[ErasureOut] = Field(description="newest first")
    next_before: int | None = Field(description="pass as `before` for the next page; null: end")


_PROBLEMS: dict[int | str, dict[str, Any]] = {
    401: {"description": "invalid_token or token_expired"},
    422: {"description": "validation_error"},
}


@router.get("/me/privacy", response_model=PrivacyOut, responses=_PROBLEMS)
async def get_privacy(
    viewer: Viewer = Depends(current_viewer), ctx: ApiContext = Depends(get_ctx)
) -> PrivacyOut:
    """The caller's analytics consent, and whether it is the deployment's default."""
    return PrivacyOut.of(await consent_of(ctx, viewer.sub))


@router.put("/me/privacy", response_model=PrivacyOut, responses=_PROBLEMS)
async def put_privacy(
    body: PrivacyIn, viewer: Viewer = Depends(current_viewer), ctx: ApiContext = Depends(get_ctx)
) -> PrivacyOut:
    """Set the caller's analytics consent; it applies from their next event batch."""
    await ctx.sessions.hit_rate_limit(f"privacy:{viewer.sub}", RATE_LIMIT_PER_MIN)
    return PrivacyOut.of(await set_consent(ctx, viewer.sub, body.analytics_consent))


def _erase(settings: Settings, engine: Engine, account: str, actor: str) -> ErasureAudit:
    events = Events.from_settings(settings)
    try:
        return events.erase(
            account, actor=actor, catalog=engine, derived_prefixes=(RECS_ROWS_PREFIX,)
        )
    finally:
        events.log.client.close()


@router.post(
    "/admin/accounts/{account}/erasure",
    response_model=ErasureOut,
    responses={
        **_PROBLEMS,
        403: {"description": "forbidden: not an admin token"},
        503: {"description": "the erasure failed (`erasure`: its audit record) or never began"},
    },
)
async def erase_account(
    account: Annotated[str, Path(pattern=ACCOUNT_PATTERN, description="the token's sub")],
    admin: Viewer = Depends(current_admin),
    ctx: ApiContext = Depends(get_ctx),
) -> ErasureOut:
    """Erase the account's events from the stream and every event file (admin token);
    answers the audit record once done."""
    try:
        row = await asyncio.to_thread(_erase, ctx.settings, ctx.engine, account, admin.sub)
    except ErasureFailed as failed:
        record = ErasureOut.of(failed.record)
        raise Problem(
            "service_unavailable",
            f"erasure {record.id} failed ({record.reason}); run it again",
            erasure=record.model_dump(mode="json"),
        ) from failed
    except SQLAlchemyError as exc:
        raise Problem(
            "service_unavailable", "the catalog is not reachable: nothing erased"
        ) from exc
    return ErasureOut.of(row)


@router.get("/admin/erasures", response_model=ErasurePage, responses=_PROBLEMS)
async def list_erasures(
    limit: Annotated[int, Query(ge=1, le=MAX_ERASURES_PAGE)] = 50,
    before: Annotated[int | None, Query(ge=1, le=MAX_ID, description="only ids below this")] = None,
    account: Annotated[str | None, Query(pattern=ACCOUNT_PATTERN)] = None,
    _admin: Viewer = Depends(current_admin),
    ctx: ApiContext = Depends(get_ctx),
) -> ErasurePage:
    """The erasure audit log, newest first (admin token)."""
    rows = await asyncio.to_thread(
        recent_erasures, ctx.engine, limit=limit, before=before, account=account
    )
    page = [ErasureOut.of(row) for row in rows]
    return ErasurePage(erasures=page, next_before=page[-1].id if len(page) == limit else None)
