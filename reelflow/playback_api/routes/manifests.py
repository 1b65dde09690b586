"""Tokenized manifests: the packaged DASH/HLS, filtered to the session's entitlement.

- DASH: video above the plan's height is removed (with its key signalling) and a BaseURL
  points the relative segment URIs at the signed media prefix of the package.
- HLS: the master loses variants above the height and points at media playlists served
  here (they need per-client key lines); media playlists keep only the client's
  ``EXT-X-KEY`` system and get absolute segment URIs under the signed prefix. HLS names its
  key system (``?drm=``), so its height is also limited to what that system may unlock
  (key_policy.py): a ClearKey HLS client of a multi-DRM session sees no HD variant. Only the
  package's media playlists are served here, never its master (which lists every height).

Filtering is cached per entitlement variant with placeholders; a request only swaps in its
own token and signed prefix (plain string replacement, no XML parse on the hot path).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any, cast
from urllib.parse import quote
from xml.sax.saxutils import escape

from fastapi import APIRouter, Request, Response

from reelflow.playback_api.auth.signing import PlaybackClaim, sign_prefix, verify_playback_token
from reelflow.playback_api.delivery.manifest_filter import (
    DrmSystem,
    ManifestError,
    NoPlayableVideo,
    filter_hls_master,
    filter_mpd,
    point_media_playlists,
    rebase_hls_uris,
    rewrite_hls_keys,
)
from reelflow.playback_api.delivery.sessions import SESSION_ID_RE
from reelflow.playback_api.delivery.title_cache import LivePackage
from reelflow.playback_api.http import fast_params as fp
from reelflow.playback_api.http.context import ApiContext, api_context
from reelflow.playback_api.http.problems import Problem
from reelflow.playback_api.routes import API_V1
from reelflow.storage import ObjectNotFound

router = APIRouter(prefix=API_V1, tags=["playback"])

PLAYLIST_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,190}\.m3u8$")
DRM_SYSTEMS = ("clearkey", "widevine", "playready", "fairplay")
_SESSION_DOC = fp.path_doc("session_id", SESSION_ID_RE.pattern)
_DRM_DOC = fp.query_doc("drm", "the key system of the HLS key lines", enum=list(DRM_SYSTEMS))
_TOKEN_REQUIRED = {**fp.TOKEN_DOC, "required": True}

_BASE = "__REELFLOW_MEDIA_BASE__/"
_REBASE_ROOT = "http://reelflow.invalid/__media__/"
_QUERY = "__REELFLOW_QUERY__"
_TOKEN = "__REELFLOW_TOKEN__"
_NO_STORE = {"Cache-Control": "private, no-store"}


def _common(request: Request) -> tuple[ApiContext, str, str]:
    session_id = fp.path_param(request, "session_id", SESSION_ID_RE)
    return api_context(request), session_id, fp.required_token(request)


def _claim(ctx: ApiContext, session_id: str, token: str) -> tuple[PlaybackClaim, int]:
    """The signed token is the whole authority here: manifests cost no session lookup.

    It binds session, title, package version, entitlement height and DRM systems until its
    expiry; an ended session can still fetch a manifest but no license (license_auth.py)."""
    claim = verify_playback_token(ctx.signing_secret, token, time.time(), session_id=session_id)
    if claim.max_height is None:
        raise Problem("invalid_token", "this token does not carry a playback entitlement")
    return claim, claim.max_height


async def _package(ctx: ApiContext, claim: PlaybackClaim) -> LivePackage:
    view = await ctx.titles.title(claim.title_id)
    if view is None or not view.published or view.package is None:
        raise Problem("not_published", "this title is no longer available")
    if view.package.version_dir != claim.version:
        raise Problem("session_expired", "the title was republished; start playback again")
    return view.package


async def _cached(ctx: ApiContext, key: tuple[str, ...], build: Callable[[], str]) -> str:
    def guarded() -> str:
        try:
            return build()
        except ObjectNotFound:
            raise Problem("not_found", "no such manifest in this package")
        except NoPlayableVideo:
            raise Problem("plan_insufficient", "no rendition of this title fits your plan")
        except ManifestError as exc:
            raise Problem("not_found", f"manifest cannot be served: {exc}")

    return await ctx.manifests.get(key, guarded)


def _prefix(ctx: ApiContext, claim: PlaybackClaim) -> str:
    return ctx.media_base + sign_prefix(
        ctx.link_secret, claim.title_id, claim.version, claim.expires_at
    )


async def session_mpd(
    ctx: ApiContext, package: LivePackage, title_id: str, max_height: int, media_prefix: str
) -> str:
    """A session's DASH MPD: renditions up to ``max_height``, segments under its signed
    ``media_prefix``. The manifest route serves it; a playback start can inline it."""
    key = ("mpd", title_id, str(package.version), package.mpd, str(max_height))

    def build() -> str:
        raw = ctx.store.get_bytes(f"{package.origin_prefix}/{package.mpd}").decode()
        return filter_mpd(raw, max_height=max_height, base_url=_BASE)

    text = await _cached(ctx, key, build)
    return text.replace(_BASE, escape(media_prefix))


@router.get(
    "/playback/{session_id}/manifest.mpd",
    response_class=Response,
    openapi_extra={"parameters": [_SESSION_DOC, _TOKEN_REQUIRED]},
)
async def dash_manifest(request: Request) -> Response:
    """The session's DASH MPD: entitled renditions only, segments under the signed prefix."""
    ctx, session_id, token = _common(request)
    claim, max_height = _claim(ctx, session_id, token)
    package = await _package(ctx, claim)
    body = await session_mpd(ctx, package, claim.title_id, max_height, _prefix(ctx, claim))
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
    ctx, session_id, token = _common(request)
    drm = fp.choice(request, "drm", DRM_SYSTEMS)
    claim, max_height = _claim(ctx, session_id, token)
    package = await _package(ctx, claim)
    system = _hls_drm(package, claim, drm)
    max_height = _system_height(ctx, system, max_height)
    key = ("m3u8", claim.title_id, str(package.version), package.hls_master,
           str(max_height))  # fmt: skip

    def build() -> str:
        raw = ctx.store.get_bytes(f"{package.origin_prefix}/{package.hls_master}").decode()
        # Media playlists are served by hls_media_playlist below, relative to this URL.
        return point_media_playlists(filter_hls_master(raw, max_height=max_height), "hls/", _QUERY)

    text = await _cached(ctx, key, build)
    query = f"token={quote(token)}" + (f"&drm={system}" if system != "clear" else "")
    return Response(
        text.replace(_QUERY, query), media_type="application/vnd.apple.mpegurl", headers=_NO_STORE
    )


def _system_height(ctx: ApiContext, system: str, max_height: int) -> int:
    """The session's height, limited to what the HLS key system may unlock."""
    return max_height if system == "clear" else ctx.key_policy.max_height(system, max_height)


def _media_playlist(package: LivePackage, playlist: str) -> dict[str, Any]:
    """The representation whose media (or I-frame) playlist this is; not_found for anything
    else, above all the package's master, which would list every height unfiltered."""
    for rep in package.representations:
        name = str(rep.get("playlist", ""))
        iframe = (
            rep.get("kind") == "video" and playlist == name.removesuffix(".m3u8") + "_iframe.m3u8"
        )
        if name and (playlist == name or iframe):
            return rep
    raise Problem("not_found", "no such media playlist in this package")


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
    ctx, session_id, token = _common(request)
    playlist = fp.path_param(request, "playlist", PLAYLIST_RE)
    drm = fp.choice(request, "drm", DRM_SYSTEMS)
    claim, max_height = _claim(ctx, session_id, token)
    package = await _package(ctx, claim)
    system = _hls_drm(package, claim, drm)
    rep = _media_playlist(package, playlist)
    if rep.get("kind") == "video":
        # A video playlist of unknown height is refused too: failing closed.
        height = int(rep.get("height") or 0)
        if not height or height > _system_height(ctx, system, max_height):
            raise Problem("forbidden", f"{height}p is above what this session may play")
    key = ("hls", claim.title_id, str(package.version), playlist, system)
    public = ctx.public_base

    def key_uri(kid: str) -> str:
        if system == "fairplay":
            return f"skd://{kid}"
        return f"{public}/v1/license/hls-key/{kid}?token={_TOKEN}"

    def build() -> str:
        raw = ctx.store.get_bytes(f"{package.origin_prefix}/{playlist}").decode()
        if system != "clear" and "#EXT-X-KEY:" in raw:
            raw = rewrite_hls_keys(raw, drm=_as_drm(system), key_uri_for_kid=key_uri)
        return rebase_hls_uris(raw, _REBASE_ROOT)

    text = await _cached(ctx, key, build)
    body = text.replace(_REBASE_ROOT, _prefix(ctx, claim)).replace(_TOKEN, quote(token))
    return Response(body, media_type="application/vnd.apple.mpegurl", headers=_NO_STORE)


def _as_drm(system: str) -> DrmSystem:
    if system in DRM_SYSTEMS:
        return cast(DrmSystem, system)
    raise Problem("unsupported_drm", f"unknown key system {system}")
