"""Admin token revocation (``/v1/admin/revocations/...``, admin token required).

What is recorded and for how long: revocation.py. Revoking an account's tokens does not end
a playback session already started: its playback token carries its own expiry.
"""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from reelflow.playback_api.auth.auth import MAX_JTI_CHARS
from reelflow.playback_api.http.context import ApiContext, current_admin, get_ctx
from reelflow.playback_api.routes import API_V1

router = APIRouter(prefix=API_V1, tags=["operations"], dependencies=[Depends(current_admin)])

_CONTROL_FREE = r"^[^\x00-\x1f\x7f]+$"


class TokenRevocation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    jti: str = Field(min_length=1, max_length=MAX_JTI_CHARS, pattern=_CONTROL_FREE)


class AccountRevocation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    account: str = Field(
        min_length=1, max_length=256, pattern=_CONTROL_FREE, description="the tokens' sub"
    )


class Revoked(BaseModel):
    jti: str | None = None
    account: str | None = None
    not_before: datetime | None = Field(
        None, description="tokens of the account issued at or before this are refused"
    )
    expires_in_s: int = Field(description="the record lapses when no such token can be valid")


@router.post("/admin/revocations/tokens", status_code=201, response_model=Revoked)
async def revoke_token(body: TokenRevocation, ctx: ApiContext = Depends(get_ctx)) -> Revoked:
    """Refuse one token (by its ``jti``) from now on, in every API process."""
    await ctx.revocations.revoke_token(body.jti)
    return Revoked(jti=body.jti, expires_in_s=ctx.revocations.ttl_s)


@router.post("/admin/revocations/accounts", status_code=201, response_model=Revoked)
async def revoke_account(body: AccountRevocation, ctx: ApiContext = Depends(get_ctx)) -> Revoked:
    """Refuse every token of the account issued up to now; tokens issued later work."""
    at = await ctx.revocations.revoke_account(body.account)
    return Revoked(
        account=body.account,
        not_before=datetime.fromtimestamp(at, UTC),
        expires_in_s=ctx.revocations.ttl_s,
    )
