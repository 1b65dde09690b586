"""The checks every license answer goes through, for ClearKey and the DRM license proxy alike.

A license request carries the playback token it was given with the session (``?token=``)
and the viewer's own credential (``Authorization: Bearer``, the token the session was started
with or a later one of the same account): the links of a session (manifest, media, license
URL) are handed around by whoever wants to share a stream, the viewer's credential is not, so
links alone unlock nothing. The credential's subject must own the session and its device
claim, where present, must be the session's device. It is honoured only while that session
is alive (lease renewed by heartbeats), the title still published with the same package,
and within the per-session rate limit; keys are then limited to the session's entitlement
(track classes), to the classes the *requesting* DRM system may unlock under the key policy
(key_policy.py: in production ClearKey never gets an HD or UHD key, even in a session whose
plan and other DRM systems allow them) and to keys not revoked.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from fastapi import Request

from reelflow.playback_api.auth.auth import Viewer
from reelflow.playback_api.auth.signing import verify_playback_token
from reelflow.playback_api.delivery.sessions import PlaybackSession
from reelflow.playback_api.delivery.title_cache import KeyEntry, LivePackage, TitleView
from reelflow.playback_api.http.context import ApiContext, viewer_without_revocation_check
from reelflow.playback_api.http.problems import Problem

# OpenAPI: license routes read the header by hand (fast path) yet need the viewer's token.
VIEWER_BEARER: list[dict[str, list[str]]] = [{"HTTPBearer": []}]


@dataclass(frozen=True)
class LicenseGrant:
    session: PlaybackSession
    title: TitleView
    package: LivePackage
    keys: dict[str, KeyEntry]  # KID hex -> key, only the ones this session may receive

    def entitled(self, kid_hex: str) -> KeyEntry | None:
        return self.keys.get(kid_hex.lower())


async def _license_viewer(request: Request) -> Viewer:
    if not request.headers.get("authorization"):
        raise Problem(
            "invalid_token",
            "a license request needs the viewer's bearer token in the Authorization header "
            "besides the session's ?token=",
        )
    # Verified; its revocation is checked with the session read (authorize_license).
    return await viewer_without_revocation_check(request)


def _check_owner(viewer: Viewer, session: PlaybackSession) -> None:
    if viewer.sub != session.account:
        raise Problem("forbidden", "this playback session belongs to another account")
    if viewer.device is not None and viewer.device != session.device_id:
        raise Problem("forbidden", "this playback session is on another device")


async def authorize_license(
    ctx: ApiContext, request: Request, token: str | None, drm: str
) -> LicenseGrant:
    """Credential, session, title and rate checks; raises the Problem naming the first that
    fails."""
    if not token:
        raise Problem("invalid_token", "a playback token is required (?token=...)")
    claim = verify_playback_token(ctx.signing_secret, token, time.time())
    viewer = await _license_viewer(request)
    # One round trip: the credential's revocation (401 first), then the live session and
    # its rate counter.
    session = await ctx.sessions.require_within_rate(
        claim.session_id, ctx.settings.license_rate_per_minute, ctx.revocations.guard(viewer)
    )
    request.state.account = viewer.sub  # for the access log, as current_viewer sets it
    if claim.drm and drm not in claim.drm:
        raise Problem("unsupported_drm", f"this session did not ask for {drm}")
    if session.title_id != claim.title_id or session.version_dir != claim.version:
        raise Problem("forbidden", "playback token is for another session or title")
    _check_owner(viewer, session)
    if drm not in session.drm:
        raise Problem("unsupported_drm", f"this session did not ask for {drm}")
    title = await ctx.titles.title(session.title_id)
    if title is None or not title.published or title.package is None:
        raise Problem("not_published", "this title is no longer available")
    package = title.package
    if package.version != session.version:
        raise Problem("session_expired", "the title was republished; start playback again")
    all_keys = await ctx.titles.keys(session.title_id, session.version)
    # The policy as configured now, not as it was at playback start: a tightened policy
    # reaches running sessions at their next license request.
    classes = ctx.key_policy.unlockable(drm).intersection(session.key_classes)
    allowed = {
        kid: entry
        for kid, entry in all_keys.items()
        if not entry.revoked and entry.track_class in classes
    }
    return LicenseGrant(session, title, package, allowed)
