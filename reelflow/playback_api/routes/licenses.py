"""ClearKey licenses (W3C Encrypted Media Extensions) and HLS identity key delivery.

ClearKey is the one DRM system whose license the API issues itself, so it is also the one
that plays end to end in a browser here. Keys leave only for KIDs of the session's
package, within its entitlement (a basic-plan session never receives the HD key, even if
it names that KID), never revoked, and only while the session is alive.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from reelflow.playback_api.context import ApiContext, get_ctx
from reelflow.playback_api.license_auth import authorize_license
from reelflow.playback_api.problems import Problem

router = APIRouter(tags=["licenses"])

TOKEN = Query(default=None, max_length=1024, description="the session's playback token")
MAX_KIDS = 32


class ClearKeyRequest(BaseModel):
    """The license request a ClearKey CDM generates (W3C EME, section 9.1.3)."""

    model_config = ConfigDict(extra="ignore")

    kids: list[str] = Field(
        min_length=1,
        max_length=MAX_KIDS,
        description="key ids, base64url without padding (22 characters)",
    )
    type: Literal["temporary"] = "temporary"


class JsonWebKey(BaseModel):
    kty: Literal["oct"] = "oct"
    kid: str
    k: str


class ClearKeyLicense(BaseModel):
    keys: list[JsonWebKey]
    type: Literal["temporary"] = "temporary"


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _kid_hex(kid: str) -> str:
    if len(kid) != 22:
        raise Problem("validation_error", "each kid is 16 bytes in base64url without padding")
    try:
        raw = base64.urlsafe_b64decode(kid + "==")
    except (binascii.Error, ValueError):
        raise Problem("validation_error", "a kid is not valid base64url")
    if len(raw) != 16:
        raise Problem("validation_error", "each kid is 16 bytes in base64url without padding")
    return raw.hex()


_REQUEST_SCHEMA: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": ClearKeyRequest.model_json_schema()}},
    }
}


@router.post(
    "/license/clearkey",
    response_model=ClearKeyLicense,
    openapi_extra=_REQUEST_SCHEMA,
    responses={403: {"description": "no requested key may be issued to this session"}},
)
async def clearkey_license(
    request: Request, token: str | None = TOKEN, ctx: ApiContext = Depends(get_ctx)
) -> ClearKeyLicense:
    """Answer a ClearKey license request with the keys this session is entitled to."""
    # Parsed by hand: CDMs and players do not all send a JSON content type.
    raw = await request.body()
    try:
        body = ClearKeyRequest.model_validate(json.loads(raw or b"null"))
    except (ValueError, ValidationError):
        raise Problem("validation_error", 'expected {"kids": ["<base64url>"], "type": "temporary"}')
    wanted = [_kid_hex(kid) for kid in body.kids]
    grant = await authorize_license(ctx, token, "clearkey")
    keys = [
        JsonWebKey(kid=_b64url(bytes.fromhex(entry.kid)), k=_b64url(entry.key))
        for kid in dict.fromkeys(wanted)
        if (entry := grant.entitled(kid)) is not None
    ]
    if not keys:
        raise Problem("key_withheld", "none of the requested keys may be issued to this session")
    request.app.state.metrics.licenses.labels("clearkey").inc()
    return ClearKeyLicense(keys=keys)


@router.get(
    "/license/hls-key/{kid}",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
async def hls_identity_key(
    request: Request,
    kid: str = Path(pattern=r"^[0-9a-f]{32}$"),
    token: str | None = TOKEN,
    ctx: ApiContext = Depends(get_ctx),
) -> Response:
    """The 16-byte key for an HLS ``KEYFORMAT="identity"`` key line (web ClearKey playback)."""
    grant = await authorize_license(ctx, token, "clearkey")
    entry = grant.entitled(kid)
    if entry is None:
        raise Problem("key_withheld", "this key may not be issued to this session")
    request.app.state.metrics.licenses.labels("clearkey").inc()
    return Response(
        entry.key, media_type="application/octet-stream", headers={"Cache-Control": "no-store"}
    )
