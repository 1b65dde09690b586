"""Tokenized manifest routes: a session's DASH MPD, HLS master and HLS media playlists.

What each manifest holds is delivery/session_manifests.py. HLS names its key system
(``?drm=``), so its largest picture is also limited to what that system may unlock
(key_policy.py):
a ClearKey HLS client of a multi-DRM session sees no HD variant. These are fast-path
routes (http/fast_params.py says why they read their parameters by hand).
"""

from __future__ import annotations

import re
import time
from urllib.parse import quote

from fastapi import APIRouter, Request, Response

from reelflow.playback_api.auth.signing import PlaybackClaim, verify_playback_token
from reelflow.playback_api.delivery.key_policy import DRM_SYSTEMS
from reelflow.playback_api.delivery.session_links import media_prefix
from reelflow.playback_api.delivery.session_manifests import (
    media_playlist,
    session_hls_master,
    session_hls_media,
    session_mpd,
)
from reelflow.playback_api.delivery.sessions import SESSION_ID_RE
from reelflow.playback_api.delivery.title_cache import LivePackage
from reelflow.playback_api.http import fast_params as fp
from reelflow.playback_api.http.context import ApiContext, api_context
from reelflow.playback_api.http.problems import Problem
from reelflow.playback_api.routes import API_V1

router = APIRouter(prefix=API_V1, tags=["playback"])

PLAYLIST_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,190}\.m3u8$")
_SESSION_DOC = fp.path_doc("session_id", SESSION_ID_RE.pattern)
_DRM_DOC = fp.query_doc("drm", "the key system of the HLS key lines", enum=list(DRM_SYSTEMS))
_TOKEN_REQUIRED = {**fp.TOKEN_DOC, "required": True}

_NO_STORE = {"Cache-Control": "private, no-store"}


def _common(request: Request) -> tuple[ApiContext, str, str]:
    session_id = fp.path_param(request, "session_id", SESSION_ID_RE)
    return api_context(request), session_id, fp.required_token(request)


def _claim(ctx: ApiContext, session_id: str, token: str) -> tuple[PlaybackClaim, int]:
    """The signed token carries what a manifest needs (no session JSON is read).

    It binds session, title, package version, entitlement (largest picture, in pixels) and
    DRM systems until its expiry; _package checks that the session still holds its lease."""
    claim = verify_playback_token(ctx.signing_secret, token, time.time(), session_id=session_id)
    if claim.max_pixels is None:
        raise Problem("invalid_token", "this token does not carry a playback entitlement")
    return claim, claim.max_pixels


async def _package(ctx: ApiContext, claim: PlaybackClaim) -> LivePackage:
    # One Redis round trip: the manifest's media links are refused once the lease is gone
    # (session_links.check_media_link), so an ended session's manifest is refused too.
    if not await ctx.sessions.is_live(claim.session_id):
        raise Problem("session_expired", "this playback session has ended; start again")
    view = await ctx.titles.title(claim.title_id)
    if view is None or not view.published or view.package is None:
        raise Problem("not_published", "this title is no longer available")
    if view.package.version_dir != claim.version:
        raise Problem("session_expired", "the title was republished; start playback again")
    return view.package


def _prefix(ctx: ApiContext, claim: PlaybackClaim) -> str:
    return media_prefix(ctx, claim.session_id, claim.title_id, claim.version, claim.expires_at)


@router.get(
    "/playback/{session_id}/manifest.mpd",
    response_class=Response,
    openapi_extra={"parameters": [_SESSION_DOC, _TOKEN_REQUIRED]},
)
async def dash_manifest(request: Request) -> Response:
    """The session's DASH MPD: entitled renditions only, segments under the signed prefix."""
    # Fast path (http/fast_params.py): the Request only, parameters read by hand.
    ctx, session_id, token = _common(request)
    claim, max_pixels = _claim(ctx, session_id, token)
    package = await _package(ctx, claim)
    body = await session_mpd(ctx, package, claim.title_id, max_pixels, _prefix(ctx, claim))
    return Response(body, media_type="application/dash+xml", headers=_NO_STORE)


def _hls_drm(package: LivePackage, claim: PlaybackClaim, drm: str | None) -> str:
    if not package.encrypted:
        return "clear"
    if drm is None:
        raise Problem("unsupported_drm", "an encrypted HLS stream needs ?drm=<key system>")
    if drm not in claim.drm:
        raise Problem("unsupported_drm", f"this session did not ask for {drm}")
    return drm


@router.get(
    "/playback/{session_id}/master.m3u8",
    response_class=Response,
    openapi_extra={"parameters": [_SESSION_DOC, _TOKEN_REQUIRED, _DRM_DOC]},
)
async def hls_master(request: Request) -> Response:
    """The session's HLS master playlist: entitled variants, media playlists served here."""
    # Fast path (http/fast_params.py): the Request only, parameters read by hand.
    ctx, session_id, token = _common(request)
    drm = fp.choice(request, "drm", DRM_SYSTEMS)
    claim, max_pixels = _claim(ctx, session_id, token)
    package = await _package(ctx, claim)
    system = _hls_drm(package, claim, drm)
    max_pixels = _system_pixels(ctx, system, max_pixels)
    query = f"token={quote(token)}" + (f"&drm={system}" if system != "clear" else "")
    text = await session_hls_master(ctx, package, claim.title_id, max_pixels, query)
    return Response(text, media_type="application/vnd.apple.mpegurl", headers=_NO_STORE)


def _system_pixels(ctx: ApiContext, system: str, max_pixels: int) -> int:
    """The session's largest picture, limited to what the HLS key system may unlock."""
    return max_pixels if system == "clear" else ctx.key_policy.max_pixels(system, max_pixels)


@router.get(
    "/playback/{session_id}/hls/{playlist}",
    response_class=Response,
    openapi_extra={
        "parameters": [
            _SESSION_DOC,
            fp.path_doc("playlist", PLAYLIST_RE.pattern),
            _TOKEN_REQUIRED,
            _DRM_DOC,
        ]
    },
)
async def hls_media_playlist(request: Request) -> Response:
    """One media playlist: the client's key system only, segments under the signed prefix."""
    # Fast path (http/fast_params.py): the Request only, parameters read by hand.
    ctx, session_id, token = _common(request)
    playlist = fp.path_param(request, "playlist", PLAYLIST_RE)
    drm = fp.choice(request, "drm", DRM_SYSTEMS)
    claim, max_pixels = _claim(ctx, session_id, token)
    package = await _package(ctx, claim)
    system = _hls_drm(package, claim, drm)
    rep = media_playlist(package, playlist)
    if rep.get("kind") == "video":
        # A video playlist of unknown size is refused too: failing closed.
        width, height = int(rep.get("width") or 0), int(rep.get("height") or 0)
        if width <= 0 or height <= 0 or width * height > _system_pixels(ctx, system, max_pixels):
            raise Problem("forbidden", f"{width}x{height} is above what this session may play")
    body = await session_hls_media(
        ctx,
        package,
        claim.title_id,
        playlist,
        system,
        token=quote(token),
        media_prefix=_prefix(ctx, claim),
    )
    return Response(body, media_type="application/vnd.apple.mpegurl", headers=_NO_STORE)
