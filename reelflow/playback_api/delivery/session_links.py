"""A playback session's links: its token, signed media prefix and license URLs.

A start and every heartbeat hand these out (routes/playback.py); they live until the
session's link expiry (``media_link_ttl_s`` from now), renewed only while its lease holds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote

from reelflow.playback_api.auth.signing import issue_playback_token, sign_prefix
from reelflow.playback_api.delivery.sessions import PlaybackSession

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
    prefix = sign_prefix(ctx.link_secret, session.title_id, session.version_dir, session.expires_at)
    licenses = {d: f"{ctx.public_base}/v1/license/{d}?{q}" for d in session.drm}
    return SessionLinks(token, q, f"{ctx.media_base}{prefix}", licenses)


def link_expiry(ctx: ApiContext) -> int:
    return int(time.time()) + ctx.settings.media_link_ttl_s
