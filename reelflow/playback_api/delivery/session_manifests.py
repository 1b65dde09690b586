"""A session's manifests: the package's DASH/HLS, filtered to the session's entitlement.

- DASH: video above the plan's height is removed (with its key signalling) and a BaseURL
  points the relative segment URIs at the signed media prefix of the package.
- HLS: the master loses variants above the height and points at media playlists served
  by the API (they need per-client key lines); media playlists keep only the client's
  ``EXT-X-KEY`` system and get absolute segment URIs under the signed prefix. Only the
  package's media playlists are rendered here, never its master (which lists every height).

Filtering is cached per entitlement variant with placeholders; a request only swaps in its
own token and signed prefix (plain string replacement, no XML parse on the hot path). The
manifest routes (routes/manifests.py) serve these; a playback start can inline the MPD.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast
from xml.sax.saxutils import escape

from reelflow.playback_api.delivery.key_policy import DRM_SYSTEMS
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
from reelflow.playback_api.delivery.title_cache import LivePackage
from reelflow.playback_api.http.problems import Problem
from reelflow.storage import ObjectNotFound
from reelflow.storage.layout import origin_key

if TYPE_CHECKING:
    from reelflow.playback_api.http.context import ApiContext

_BASE = "__REELFLOW_MEDIA_BASE__/"
_REBASE_ROOT = "http://reelflow.invalid/__media__/"
_QUERY = "__REELFLOW_QUERY__"
_TOKEN = "__REELFLOW_TOKEN__"


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


def _package_text(ctx: ApiContext, title_id: str, package: LivePackage, name: str) -> str:
    return ctx.store.get_bytes(origin_key(title_id, package.version, name)).decode()


async def session_mpd(
    ctx: ApiContext, package: LivePackage, title_id: str, max_pixels: int, media_prefix: str
) -> str:
    """A session's DASH MPD: renditions of at most ``max_pixels`` (width x height), segments
    under its signed ``media_prefix``. The manifest route serves it; a start can inline it."""
    key = ("mpd", title_id, str(package.version), package.mpd, str(max_pixels))

    def build() -> str:
        raw = _package_text(ctx, title_id, package, package.mpd)
        return filter_mpd(raw, max_pixels=max_pixels, base_url=_BASE)

    text = await _cached(ctx, key, build)
    return text.replace(_BASE, escape(media_prefix))


async def session_hls_master(
    ctx: ApiContext, package: LivePackage, title_id: str, max_pixels: int, query: str
) -> str:
    """A session's HLS master: variants of at most ``max_pixels``; its media playlists are
    ``hls/<name>?<query>`` relative to the master's URL."""
    key = ("m3u8", title_id, str(package.version), package.hls_master, str(max_pixels))

    def build() -> str:
        raw = _package_text(ctx, title_id, package, package.hls_master)
        master = filter_hls_master(raw, max_pixels=max_pixels)
        return point_media_playlists(master, "hls/", _QUERY)

    text = await _cached(ctx, key, build)
    return text.replace(_QUERY, query)


def media_playlist(package: LivePackage, playlist: str) -> dict[str, Any]:
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


async def session_hls_media(
    ctx: ApiContext,
    package: LivePackage,
    title_id: str,
    playlist: str,
    system: str,
    *,
    token: str,
    media_prefix: str,
) -> str:
    """One media playlist: the key lines of ``system`` only (``clear``: none), key URIs
    carrying ``token`` (already URL-quoted), segments under ``media_prefix``."""
    key = ("hls", title_id, str(package.version), playlist, system)
    public = ctx.public_base

    def key_uri(kid: str) -> str:
        if system == "fairplay":
            return f"skd://{kid}"
        return f"{public}/v1/license/hls-key/{kid}?token={_TOKEN}"

    def build() -> str:
        raw = _package_text(ctx, title_id, package, playlist)
        if system != "clear" and "#EXT-X-KEY:" in raw:
            raw = rewrite_hls_keys(raw, drm=_as_drm(system), key_uri_for_kid=key_uri)
        return rebase_hls_uris(raw, _REBASE_ROOT)

    text = await _cached(ctx, key, build)
    return text.replace(_REBASE_ROOT, media_prefix).replace(_TOKEN, token)


def _as_drm(system: str) -> DrmSystem:
    if system in DRM_SYSTEMS:
        return cast(DrmSystem, system)
    raise Problem("unsupported_drm", f"unknown key system {system}")
