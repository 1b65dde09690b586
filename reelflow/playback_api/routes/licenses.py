"""ClearKey licenses (W3C Encrypted Media Extensions) and HLS identity key delivery.

ClearKey is the one DRM system whose license the API issues itself, so it is also the one
that plays end to end in a browser here. Keys leave only for KIDs of the session's
package, within its entitlement (a basic-plan session never receives the HD key, even if
it names that KID), never revoked, and only while the session is alive. A license says until
when (``expires_at``, no later than the lease's end); the browser does not enforce it (the
ClearKey format has no expiry), the lease check on every request is what the server enforces.
"""

from __future__ import annotations

import binascii
import re
from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from reelflow.playback_api.auth.license_auth import VIEWER_BEARER, authorize_license
from reelflow.playback_api.auth.signing import b64url, b64url_decode
from reelflow.playback_api.delivery.session_links import lease_bound_expiry
from reelflow.playback_api.http import fast_params as fp
from reelflow.playback_api.http.context import api_context
from reelflow.playback_api.http.problems import Problem
from reelflow.playback_api.routes import API_V1

router = APIRouter(prefix=API_V1, tags=["licenses"])

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
    expires_at: int = Field(
        description="unix time (s) the keys are licensed until: no later than the session's "
        "lease end. Informational for the player: the W3C ClearKey format has no expiry and "
        "a browser's ClearKey CDM ignores this member and keeps the keys for the life of "
        "its MediaKeySession. The server enforces the lease: a renewal needs a live lease."
    )


def _kid_hex(kid: str) -> str:
    if len(kid) != 22:
        raise Problem("validation_error", "each kid is 16 bytes in base64url without padding")
    try:
        raw = b64url_decode(kid)
    except (binascii.Error, ValueError):
        raise Problem("validation_error", "a kid is not valid base64url")
    if len(raw) != 16:
        raise Problem("validation_error", "each kid is 16 bytes in base64url without padding")
    return raw.hex()


_REQUEST_SCHEMA: dict[str, Any] = {
    "security": VIEWER_BEARER,
    "parameters": [fp.TOKEN_DOC],
    "requestBody": fp.body_doc(ClearKeyRequest),
}
_KID_RE = re.compile(r"^[0-9a-f]{32}$")
_NO_STORE = {"Cache-Control": "no-store"}


@router.post(
    "/license/clearkey",
    response_model=ClearKeyLicense,
    openapi_extra=_REQUEST_SCHEMA,
    responses={403: {"description": "no requested key may be issued to this session"}},
)
async def clearkey_license(request: Request) -> Response:
    """Answer a ClearKey license request with the keys this session is entitled to."""
    # Fast path (http/fast_params.py): the Request only, parameters read by hand.
    ctx = api_context(request)
    token = fp.token(request)
    # Not fp.json_body: CDMs and players do not all send a JSON content type, and a
    # malformed request gets the one-line hint below rather than pydantic's errors.
    raw = await request.body()
    try:
        body = ClearKeyRequest.model_validate_json(raw or b"null")
    except (ValueError, ValidationError):
        raise Problem("validation_error", 'expected {"kids": ["<base64url>"], "type": "temporary"}')
    wanted = [_kid_hex(kid) for kid in body.kids]
    grant = await authorize_license(ctx, request, token, "clearkey")
    keys = [
        {"kty": "oct", "kid": b64url(bytes.fromhex(entry.kid)), "k": b64url(entry.key)}
        for kid in dict.fromkeys(wanted)
        if (entry := grant.entitled(kid)) is not None
    ]
    if not keys:
        raise Problem("key_withheld", "none of the requested keys may be issued to this session")
    request.app.state.metrics.licenses.labels("clearkey").inc()
    expires_at = lease_bound_expiry(ctx, grant.session)
    return JSONResponse(
        {"keys": keys, "type": "temporary", "expires_at": expires_at}, headers=_NO_STORE
    )


@router.get(
    "/license/hls-key/{kid}",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}},
    openapi_extra={
        "security": VIEWER_BEARER,
        "parameters": [fp.path_doc("kid", _KID_RE.pattern), fp.TOKEN_DOC],
    },
)
async def hls_identity_key(request: Request) -> Response:
    """The 16-byte key for an HLS ``KEYFORMAT="identity"`` key line (web ClearKey playback)."""
    # Fast path (http/fast_params.py): the Request only, parameters read by hand.
    ctx = api_context(request)
    kid = fp.path_param(request, "kid", _KID_RE)
    grant = await authorize_license(ctx, request, fp.token(request), "clearkey")
    entry = grant.entitled(kid)
    if entry is None:
        raise Problem("key_withheld", "this key may not be issued to this session")
    request.app.state.metrics.licenses.labels("clearkey").inc()
    return Response(entry.key, media_type="application/octet-stream", headers=_NO_STORE)
