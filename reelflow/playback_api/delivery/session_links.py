"""A playback session's links (token, signed media prefix, license URLs) and their checks.

The one place media links are made and checked (signing.py has the format): a start and
every heartbeat hand these out (routes/playback.py); they live until the session's link
expiry (``media_link_ttl_s`` from now), renewed only while its lease holds. The media prefix
is bound to the session (its id is inside the signed scope): the embedded origin serves it
only while that session's lease holds (check_media_link), and the nginx edge, which cannot
ask Redis, until the link's short expiry. The admin console gets a thumbnails-only link.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote

from reelflow.playback_api.auth.signing import (
    THUMBNAILS_HOLDER,
    MediaPathClaim,
    issue_playback_token,
    sign_prefix,
    verify_media_path,
)
from reelflow.playback_api.delivery.sessions import PlaybackSession
from reelflow.playback_api.http.problems import Problem

if TYPE_CHECKING:
    from reelflow.playback_api.http.context import ApiContext


@dataclass(frozen=True)
class SessionLinks:
    """What a start and every heartbeat hand out for one session until its link expiry."""

    token: str
    query: str  # "token=..." for manifest and license URLs
    media_prefix: str  # absolute URL of the signed package prefix
    licenses: dict[str, str]


def sign_session(ctx: ApiContext, session: PlaybackSession) -> SessionLinks:
    token = issue_playback_token(
        ctx.signing_secret,
        session.session_id,
        session.title_id,
        session.version_dir,
        session.expires_at,
        max_pixels=session.max_pixels,
        drm=session.drm,
    )
    q = f"token={quote(token)}"
    prefix = media_prefix(
        ctx, session.session_id, session.title_id, session.version_dir, session.expires_at
    )
    licenses = {d: f"{ctx.public_base}/v1/license/{d}?{q}" for d in session.drm}
    return SessionLinks(token, q, prefix, licenses)


def media_prefix(
    ctx: ApiContext, session_id: str, title_id: str, version_dir: str, expires_at: int
) -> str:
    """The absolute signed media prefix of one session's package."""
    path = sign_prefix(ctx.link_secret, title_id, version_dir, expires_at, holder=session_id)
    return f"{ctx.media_base}{path}"


def thumbnails_prefix(ctx: ApiContext, title_id: str, version_dir: str, expires_at: int) -> str:
    """An absolute signed prefix good only for the package's thumbs/ (no segment, no key)."""
    path = sign_prefix(ctx.link_secret, title_id, version_dir, expires_at, holder=THUMBNAILS_HOLDER)
    return f"{ctx.media_base}{path}"


async def check_media_link(ctx: ApiContext, raw_path: str) -> MediaPathClaim:
    """A genuine, unexpired link (signing.verify_media_path) whose session still holds its
    lease; an ended, lapsed or replaced session's link is session_expired (410)."""
    claim = verify_media_path(ctx.link_secret, raw_path, time.time())
    if claim.holder != THUMBNAILS_HOLDER and not await ctx.sessions.is_live(claim.holder):
        raise Problem("session_expired", "this link's playback session has ended; start again")
    return claim


def link_expiry(ctx: ApiContext) -> int:
    return int(time.time()) + ctx.settings.media_link_ttl_s


def lease_bound_expiry(ctx: ApiContext, session: PlaybackSession) -> int:
    """The latest a ClearKey license of this session may claim to be good until: no later
    than its lease's end. The last start or heartbeat set the link expiry and the lease
    together (link_expiry, then the lease from the same instant), so the lease ends at
    ``expires_at - media_link_ttl_s + lease_ttl_s`` (rounded down), read without Redis; and
    never past what a lease renewed right now would reach."""
    s = ctx.settings
    lease_end = session.expires_at - s.media_link_ttl_s + s.lease_ttl_s
    return min(session.expires_at, lease_end, int(time.time()) + s.lease_ttl_s)
