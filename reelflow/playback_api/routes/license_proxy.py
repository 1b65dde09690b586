"""Widevine, PlayReady and FairPlay licenses, proxied to a configured license service.

Each request passes the same session, entitlement and rate checks as ClearKey, and the
count of distinct DRM clients per session (delivery/cdm_clients.py); the CDM challenge then
goes unchanged to the system's upstream with a signed entitlement naming
only the keys this session may receive (reelflow.playback_api.delivery.license_proxy has the
contract). Challenges, keys, tokens and entitlements are never logged.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response

from reelflow.playback_api.auth.license_auth import VIEWER_BEARER, authorize_license
from reelflow.playback_api.delivery.cdm_clients import admit_client, client_id
from reelflow.playback_api.delivery.license_proxy import (
    DEFAULT_CHALLENGE_TYPES,
    ENTITLEMENT_HEADER,
    MAX_CHALLENGE_BYTES,
    LicenseUpstreamClient,
    build_entitlement,
    upstream_config,
)
from reelflow.playback_api.http.context import ApiContext, get_ctx
from reelflow.playback_api.http.problems import PROBLEM_MEDIA_TYPE, Problem
from reelflow.playback_api.routes import API_V1

log = logging.getLogger("reelflow.api.license_proxy")

_CLIENT_STATE = "license_upstream_client"


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    # The client itself is created lazily (most deployments proxy nothing); only close it.
    try:
        yield
    finally:
        client: LicenseUpstreamClient | None = getattr(app.state, _CLIENT_STATE, None)
        if client is not None:
            await client.aclose()


router = APIRouter(prefix=API_V1, tags=["licenses"], lifespan=_lifespan)

TOKEN = Query(default=None, max_length=1024, description="the session's playback token")

_BINARY = {"schema": {"type": "string", "format": "binary"}}
_PROBLEM: dict[str, Any] = {PROBLEM_MEDIA_TYPE: {}}


def _challenge_doc(*content_types: str) -> dict[str, Any]:
    return {
        "security": VIEWER_BEARER,
        "requestBody": {
            "required": True,
            "description": f"the CDM's license challenge, at most {MAX_CHALLENGE_BYTES} bytes",
            "content": {ct: _BINARY for ct in content_types},
        },
    }


_PROXY_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "the license service's answer, relayed unchanged",
        "content": {"application/octet-stream": _BINARY},
    },
    401: {
        "description": "missing, invalid or expired playback token or viewer bearer token",
        "content": _PROBLEM,
    },
    403: {
        "description": "no key may be issued to this session, or it is another viewer's, or "
        "its licenses already went to as many DRM clients as allowed (too_many_cdms)",
        "content": _PROBLEM,
    },
    406: {"description": "the session did not ask for this DRM system", "content": _PROBLEM},
    410: {"description": "the playback session has ended", "content": _PROBLEM},
    413: {"description": "the challenge is larger than 64 KiB", "content": _PROBLEM},
    429: {"description": "license requests of this session are rate limited", "content": _PROBLEM},
    502: {"description": "the license service failed or timed out", "content": _PROBLEM},
    503: {"description": "no license service is configured for this system", "content": _PROBLEM},
}


def _upstream_client(request: Request, ctx: ApiContext) -> LicenseUpstreamClient:
    state = request.app.state
    client: LicenseUpstreamClient | None = getattr(state, _CLIENT_STATE, None)
    if client is None:
        # Created inside the server's event loop, which its connection pool belongs to.
        client = LicenseUpstreamClient(ctx.settings.license_timeout_s)
        setattr(state, _CLIENT_STATE, client)
    return client


async def _read_challenge(request: Request) -> bytes:
    """The request body, refused with 413 past MAX_CHALLENGE_BYTES and 422 when empty."""
    too_large = Problem(
        "payload_too_large", f"license challenges are limited to {MAX_CHALLENGE_BYTES} bytes"
    )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_CHALLENGE_BYTES:
        raise too_large
    body = bytearray()
    # Read as it streams, so a chunked body without Content-Length is cut off just as early.
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_CHALLENGE_BYTES:
            raise too_large
    if not body:
        raise Problem(
            "validation_error",
            "the request body must be the CDM's license challenge",
            errors=[{"loc": ["body"], "msg": "empty license challenge", "type": "missing"}],
        )
    return bytes(body)


def _forward_headers(request: Request, drm: str, entitlement: str) -> dict[str, str]:
    content_type = request.headers.get("content-type", "")
    if not content_type or len(content_type) > 200:
        content_type = DEFAULT_CHALLENGE_TYPES[drm]
    headers = {"Content-Type": content_type, ENTITLEMENT_HEADER: entitlement}
    # PlayReady license servers dispatch on SOAPAction, which players copy out of the CDM's
    # message into the request; without it the SOAP call is not understood.
    soap_action = request.headers.get("soapaction", "")
    if drm == "playready" and soap_action and len(soap_action) <= 200:
        headers["SOAPAction"] = soap_action
    return headers


async def _proxy(request: Request, ctx: ApiContext, token: str | None, drm: str) -> Response:
    # Configuration first: with no upstream nothing else can help, and nothing is contacted.
    upstream = upstream_config(ctx.settings, drm)
    challenge = await _read_challenge(request)
    grant = await authorize_license(ctx, request, token, drm)
    if not grant.keys:
        raise Problem("key_withheld", "no key of this title may be issued to this session")
    client = client_id(drm, challenge, request.headers.get("user-agent", ""))
    limit = ctx.settings.license_cdms_per_session
    await admit_client(ctx.sessions, grant.session.session_id, drm, client, limit)
    entitlement = build_entitlement(grant.session, grant.keys, drm, upstream.secret)
    answer = await _upstream_client(request, ctx).forward(
        upstream, challenge, _forward_headers(request, drm, entitlement)
    )
    request.app.state.metrics.licenses.labels(drm).inc()
    # Set as a raw header so Starlette does not append a charset the upstream did not send.
    return Response(
        answer.body, headers={"Content-Type": answer.content_type, "Cache-Control": "no-store"}
    )


_SYSTEMS = (
    # (system, challenge content types, what the endpoint relays)
    ("widevine", ("application/octet-stream",), "a Widevine license challenge"),
    ("playready", ("text/xml", "application/octet-stream"), "a PlayReady SOAP license challenge"),
    ("fairplay", ("application/octet-stream",), "a FairPlay SPC (the CKC comes back)"),
)


def _proxy_endpoint(drm: str) -> Any:
    async def endpoint(
        request: Request, token: str | None = TOKEN, ctx: ApiContext = Depends(get_ctx)
    ) -> Response:
        return await _proxy(request, ctx, token, drm)

    return endpoint


for _drm, _types, _what in _SYSTEMS:
    router.add_api_route(
        f"/license/{_drm}",
        _proxy_endpoint(_drm),
        methods=["POST"],
        response_class=Response,
        openapi_extra=_challenge_doc(*_types),
        responses=_PROXY_RESPONSES,
        name=f"{_drm}_license",
        operation_id=f"{_drm}_license",
        summary=f"{_drm.title()} license",
        description=f"Relay {_what} to the configured {_drm} license service.",
    )


@router.get(
    "/license/fairplay/certificate",
    response_class=Response,
    responses={
        200: {
            "description": "the FairPlay application certificate (DER)",
            "content": {"application/octet-stream": _BINARY},
        },
        503: {"description": "no FairPlay certificate is configured", "content": _PROBLEM},
    },
)
async def fairplay_certificate(ctx: ApiContext = Depends(get_ctx)) -> Response:
    """The FairPlay application certificate. Public by design: no token needed."""
    path = ctx.settings.fairplay_certificate_path
    if path is None:
        raise Problem("license_unavailable", "no FairPlay certificate is configured")
    try:
        # Read per request (it is small and cached by clients and CDNs for a day), so a
        # renewed certificate is served without a restart.
        certificate = await asyncio.to_thread(path.read_bytes)
    except OSError as exc:
        log.error(
            "FairPlay certificate unreadable", extra={"fields": {"error": type(exc).__name__}}
        )
        raise Problem("license_unavailable", "the FairPlay certificate is not available")
    if not certificate:
        log.error("FairPlay certificate file is empty")
        raise Problem("license_unavailable", "the FairPlay certificate is not available")
    return Response(
        certificate,
        media_type="application/octet-stream",
        headers={"Cache-Control": "public, max-age=86400"},
    )
