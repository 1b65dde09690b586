"""Dev viewer tokens for the web player's account picker.

Served only when ``auth_config.dev_auth_enabled``: embedded mode bound to loopback (or the
explicit public-bind override); everywhere else the path answers 404 and is not documented.
Only to a caller on this machine (``http/embedded_guard.py`` refuses the others before this
route runs: a loopback Host, a loopback Origin if any, no proxy's headers), and never an
admin token: anyone who can make a browser post here could take one, so admin tokens come
from ``reelflow dev token --admin`` only.
"""

from __future__ import annotations

import re
from typing import Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from reelflow.playback_api.auth.auth import mint_dev_token
from reelflow.playback_api.auth.auth_config import dev_auth_enabled, dev_token_secret
from reelflow.playback_api.http.context import ApiContext, get_ctx
from reelflow.playback_api.http.problems import Problem
from reelflow.playback_api.routes import API_V1

router = APIRouter(prefix=API_V1, tags=["dev"])
_SUB_RE = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")


class DevTokenRequest(BaseModel):
    sub: str = Field(default="dev-viewer", min_length=1, max_length=64, pattern=_SUB_RE.pattern)
    plan: Literal["basic", "standard", "premium"] = "premium"
    country: str = Field(default="US", pattern=r"^[A-Za-z]{2}$")
    ttl_s: int = Field(default=3600, ge=60, le=86400)
    # Kept so that asking for one is refused by name rather than quietly ignored.
    admin: bool = Field(
        default=False, description="refused if true: `reelflow dev token --admin` makes those"
    )


class DevToken(BaseModel):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int
    sub: str
    plan: str
    country: str


@router.post("/dev/token", response_model=DevToken)
async def dev_token(body: DevTokenRequest, ctx: ApiContext = Depends(get_ctx)) -> DevToken:
    """A viewer token for any dev account and plan (embedded mode on loopback only)."""
    if not dev_auth_enabled(ctx.settings):
        raise Problem("not_found", "dev tokens exist only in embedded mode bound to loopback")
    if body.admin:
        raise Problem(
            "forbidden",
            "admin dev tokens are not handed out over HTTP: run `reelflow dev token --admin` "
            "(add --console-url for a link that signs the admin console in)",
        )
    token = mint_dev_token(
        dev_token_secret(ctx.signing_secret),
        sub=body.sub,
        plan=body.plan,
        country=body.country,
        issuer=ctx.settings.auth_issuer,
        audience=ctx.settings.auth_audience,
        ttl_s=body.ttl_s,
    )
    return DevToken(
        access_token=token,
        expires_in=body.ttl_s,
        sub=body.sub,
        plan=body.plan,
        country=body.country.upper(),
    )
