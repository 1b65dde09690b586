"""Playback sessions: start (entitlement + stream lease), heartbeat (progress), end."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from reelflow.catalog.viewer_queries import save_progress
from reelflow.config import Settings
from reelflow.domain.ids import TITLE_ID_PATTERN, TITLE_ID_RE
from reelflow.domain.track_classes import pixels_text
from reelflow.playback_api.auth.auth import Viewer
from reelflow.playback_api.delivery import experiment_exposure, idempotency, server_events
from reelflow.playback_api.delivery.entitlements import Entitlement, check_playback
from reelflow.playback_api.delivery.experiment_exposure import AssignedVariant
from reelflow.playback_api.delivery.key_policy import DrmSelection, select_drm
from reelflow.playback_api.delivery.license_proxy import usable_upstreams
from reelflow.playback_api.delivery.session_links import SessionLinks, link_expiry, sign_session
from reelflow.playback_api.delivery.session_manifests import session_mpd
from reelflow.playback_api.delivery.sessions import SESSION_ID_RE, PlaybackSession
from reelflow.playback_api.delivery.title_cache import LivePackage, TitleView
from reelflow.playback_api.delivery.viewing_progress import effective_position, stored_position
from reelflow.playback_api.http import fast_params as fp
from reelflow.playback_api.http.context import (
    ApiContext,
    api_context,
    current_viewer,
    get_ctx,
    viewer_without_revocation_check,
)
from reelflow.playback_api.http.problems import Problem
from reelflow.playback_api.routes import API_V1

router = APIRouter(prefix=API_V1, tags=["playback"])

DrmName = Literal["clearkey", "widevine", "playready", "fairplay"]
Protocol = Literal["dash", "hls"]
# HLS carries one key system per playlist: Apple devices want FairPlay, browsers without
# it play the identity (ClearKey) key line, then the PSSH-based systems.
HLS_PREFERENCE: tuple[str, ...] = ("fairplay", "clearkey", "widevine", "playready")
HEARTBEAT_INTERVAL_S = 10
SESSION_ID = Path(pattern=SESSION_ID_RE.pattern)


class PlaybackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    device_id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$")
    drm: list[DrmName] = Field(default=["clearkey"], max_length=4)
    protocols: list[Protocol] = Field(default=["dash", "hls"], min_length=1, max_length=2)
    takeover_session_id: str | None = Field(
        default=None,
        pattern=SESSION_ID_RE.pattern,
        description="the session this start replaces on the same device (a reload, a second "
        "tab); needed to take over a live lease unless the viewer token binds the device",
    )
    inline_manifest: bool = Field(
        default=False,
        description="answer with the session's DASH MPD too (dash_mpd), so the player "
        "need not fetch it: one round trip less before the first frame",
    )


class Manifests(BaseModel):
    dash: str | None = None
    hls: str | None = None


class PlaybackStart(BaseModel):
    session_id: str
    title_id: str
    token: str
    expires_at: int = Field(
        description="unix time when the token and media links expire; heartbeats renew them"
    )
    media_prefix: str = Field(description="the signed media prefix of the package (ends in /)")
    manifests: Manifests
    hls_drm: str | None = Field(description="the key system the HLS playlists carry")
    licenses: dict[str, str] = Field(description="license URL per DRM system of this session")
    fairplay_certificate: str | None = None
    thumbnails: str | None = Field(description="WebVTT of seek-bar sprites (signed URL)")
    resume_position_s: float
    max_height: int
    heartbeat_url: str
    heartbeat_interval_s: int
    lease_ttl_s: int
    bandwidth_hint_kbps: float | None = Field(
        default=None,
        description="the bandwidth (kb/s) this account's player last measured on this device "
        "(its QoE beacons), to start ABR from; null when there is none",
    )
    dash_mpd: str | None = Field(
        default=None,
        description="the session's DASH MPD, as manifests.dash answers it, when the start "
        "asked for it (inline_manifest) and DASH is offered; null otherwise",
    )
    experiments: dict[str, AssignedVariant] = Field(
        default_factory=dict,
        description="the viewer's variant of each running experiment they are in, by "
        "experiment key; an experiment they are not in is absent (the defaults apply)",
    )


MAX_POSITION_S = 7 * 24 * 3600


class Heartbeat(BaseModel):
    model_config = ConfigDict(extra="forbid")

    position: float = Field(ge=0, le=MAX_POSITION_S, description="seconds into the title")
    duration: float | None = Field(default=None, gt=0, le=MAX_POSITION_S)


class HeartbeatAck(BaseModel):
    """A renewal: the token and media prefix to use from now on, until ``expires_at``."""

    session_id: str
    lease_ttl_s: int
    expires_at: int = Field(description="unix time when the new token and media prefix expire")
    token: str
    media_prefix: str
    licenses: dict[str, str] = Field(description="license URL per DRM system, new token")


def _heartbeat_interval(settings: Settings) -> int:
    # Three heartbeats fit in one lease and in one link lifetime, so one lost request
    # never ends a stream nor lets its links lapse.
    ttl = min(settings.lease_ttl_s, settings.media_link_ttl_s)
    return max(1, min(HEARTBEAT_INTERVAL_S, ttl // 3))


def _licensable(ctx: ApiContext) -> set[str]:
    """ClearKey is issued here; the others only when their license upstream is usable."""
    return {"clearkey", *usable_upstreams(ctx.settings)}


def _now() -> datetime:
    return datetime.now(UTC)


@router.post(
    "/titles/{title_id}/playback",
    response_model=PlaybackStart,
    status_code=201,
    openapi_extra={
        "parameters": [fp.path_doc("title_id", TITLE_ID_PATTERN), idempotency.HEADER_DOC],
        "requestBody": fp.body_doc(PlaybackRequest),
        "security": fp.BEARER,
    },
)
async def start_playback(request: Request) -> Response:
    """Check entitlement, take a concurrent-stream lease and hand out signed URLs."""
    # Fast path (http/fast_params.py): the Request only, parameters read by hand.
    viewer = await viewer_without_revocation_check(request)
    ctx = api_context(request)
    # One round trip: the token's revocation (401 before anything else), then the account's
    # start count.
    await ctx.sessions.hit_rate_limit(
        f"starts:{viewer.sub}",
        ctx.settings.playback_starts_per_minute,
        guard=ctx.revocations.guard(viewer),
    )
    request.state.account = viewer.sub  # for the access log, as current_viewer sets it
    title_id = fp.path_param(request, "title_id", TITLE_ID_RE)
    body = await fp.json_body(request, PlaybackRequest)
    claim = await idempotency.claim_start(ctx, viewer.sub, request.headers, title_id, body)
    if claim.answer is not None:  # a repeat of a start that answered: the same session
        return JSONResponse(claim.answer, status_code=201, headers=idempotency.REPLAYED)
    view, entitlement = await _entitled_view(ctx, title_id, viewer)
    package = view.package
    assert package is not None  # _entitled_view refuses a title without one
    grant = _drm_grant(ctx, package, entitlement, body.drm)
    session = PlaybackSession(
        session_id=claim.session_id,
        account=viewer.sub,
        # A device bound by the identity provider wins over what the player says.
        device_id=viewer.device or body.device_id,
        title_id=title_id,
        version=package.version,
        version_dir=package.version_dir,
        plan=viewer.plan,
        country=viewer.country,
        max_height=package.tallest_within(grant.max_pixels),
        key_classes=tuple(sorted(grant.key_classes)),
        drm=grant.drm,
        expires_at=link_expiry(ctx),
    )
    signed = sign_session(ctx, session)
    # Built before the lease is taken: a package that cannot give its MPD refuses the start
    # instead of leaving a lease behind.
    inline = body.inline_manifest and "dash" in body.protocols and bool(package.mpd)
    mpd = (
        await session_mpd(ctx, package, title_id, grant.max_pixels, signed.media_prefix)
        if inline
        else None
    )
    user_agent = request.headers.get("user-agent", "")
    exposed = await experiment_exposure.assign(ctx, viewer, session, user_agent)
    resume, hint = await _take_lease(ctx, session, viewer, entitlement, body, view.duration_s)
    # The session_start and exposure events side by side.
    started = server_events.session_start_event(ctx, viewer, session, body.protocols, resume)
    lost = request.app.state.metrics.events_lost
    await asyncio.gather(
        server_events.record(ctx, viewer, started, lost),
        experiment_exposure.record(ctx, viewer, exposed, lost),
    )
    start = _start_answer(ctx, session, signed, package, body.protocols, resume, hint, mpd)
    start.experiments = exposed.answer
    await idempotency.remember(ctx, claim, answer := start.model_dump())
    return JSONResponse(answer, status_code=201)


async def _entitled_view(
    ctx: ApiContext, title_id: str, viewer: Viewer
) -> tuple[TitleView, Entitlement]:
    """The title and the viewer's entitlement to it, if it has a package the plan can play
    (its smallest rendition within the plan's picture size); a problem saying why not."""
    view = await ctx.titles.title(title_id)
    if view is None:
        raise Problem("not_found", "no such title")
    entitlement = check_playback(view.availability, viewer, _now())
    if view.package is None:
        raise Problem("not_published", "this title is not available for playback")
    pictures = view.package.pictures
    if pictures and pictures[0][0] * pictures[0][1] > entitlement.max_pixels:
        raise Problem(
            "plan_insufficient",
            f"the {viewer.plan} plan streams pictures up to {pixels_text(entitlement.max_pixels)}"
            f"; this title starts at {pictures[0][0]}x{pictures[0][1]}",
        )
    return view, entitlement


def _drm_grant(
    ctx: ApiContext, package: LivePackage, entitlement: Entitlement, wanted: Sequence[str]
) -> DrmSelection:
    """The session's DRM systems, key classes and largest picture: the plan's own for a clear
    title;
    for an encrypted one, what the asked-for systems may unlock under the key policy."""
    if not package.encrypted:
        # A clear title has no keys to hold back: the plan's picture size and classes are
        # the session's.
        return DrmSelection((), entitlement.key_classes, entitlement.max_pixels)
    usable = [d for d in package.drm_systems if d in _licensable(ctx)]
    asked = [d for d in dict.fromkeys(wanted) if d in usable]
    if not asked:
        raise Problem(
            "unsupported_drm",
            f"this title can be licensed with {', '.join(usable) or 'nothing here'}",
            supported=usable,
        )
    # The key policy narrows the plan to what these DRM systems may unlock; the token's
    # pixel cap (and so every manifest of the session) follows.
    smallest = next(iter(package.pictures), None)
    return select_drm(ctx.key_policy, entitlement, asked, usable, smallest)


async def _take_lease(
    ctx: ApiContext,
    session: PlaybackSession,
    viewer: Viewer,
    entitlement: Entitlement,
    body: PlaybackRequest,
    duration_s: float | None,
) -> tuple[float, float | None]:
    """Take the session's stream lease; returns where playback resumes and the device's
    bandwidth hint."""
    cached, hint = await ctx.sessions.start(
        session,
        entitlement.max_streams,
        device_bound=viewer.device is not None,
        replaces=body.takeover_session_id,
    )
    if cached is None:  # first start of this title for the account (or Redis lost it)
        cached = await asyncio.to_thread(stored_position, ctx.engine, viewer.sub, session.title_id)
        await ctx.sessions.cache_resume(viewer.sub, session.title_id, cached)
    return effective_position(cached, duration_s), hint


def _start_answer(
    ctx: ApiContext,
    session: PlaybackSession,
    signed: SessionLinks,
    package: LivePackage,
    protocols: Sequence[str],
    resume: float,
    hint: float | None,
    mpd: str | None,
) -> PlaybackStart:
    """The start's answer: manifest, license and heartbeat URLs under the session's token."""
    q = signed.query
    base = f"{ctx.public_base}/v1/playback/{session.session_id}"
    hls_drm = next((d for d in HLS_PREFERENCE if d in session.drm), None)
    manifests = Manifests(
        dash=f"{base}/manifest.mpd?{q}" if "dash" in protocols else None,
        hls=(
            f"{base}/master.m3u8?{q}" + (f"&drm={hls_drm}" if hls_drm else "")
            if "hls" in protocols
            else None
        ),
    )
    thumbs = package.artwork.get("thumbnails") or []
    fairplay = "fairplay" in session.drm
    return PlaybackStart(
        session_id=session.session_id,
        title_id=session.title_id,
        token=signed.token,
        expires_at=session.expires_at,
        media_prefix=signed.media_prefix,
        manifests=manifests,
        hls_drm=hls_drm,
        licenses=signed.licenses,
        fairplay_certificate=f"{ctx.public_base}/v1/license/fairplay/certificate"
        if fairplay
        else None,
        thumbnails=f"{signed.media_prefix}{thumbs[0]}" if thumbs else None,
        resume_position_s=resume,
        max_height=session.max_height,
        heartbeat_url=f"{ctx.public_base}/v1/sessions/{session.session_id}/heartbeat",
        heartbeat_interval_s=_heartbeat_interval(ctx.settings),
        lease_ttl_s=ctx.settings.lease_ttl_s,
        bandwidth_hint_kbps=hint,
        dash_mpd=mpd,
    )


async def _still_playable(
    ctx: ApiContext, session: PlaybackSession, viewer: Viewer, body: Heartbeat
) -> None:
    """A title taken down, out of its window or out of the viewer's region renews no links:
    the session ends here (position kept) and the player is told why, so a takedown stops
    playback within one link lifetime instead of at the end of the lease."""
    view = await ctx.titles.title(session.title_id)
    try:
        if view is None:
            raise Problem("not_published", "this title is not available for playback")
        check_playback(view.availability, viewer, _now())
    except Problem:
        await asyncio.to_thread(
            save_progress, ctx.engine, viewer.sub, session.title_id, body.position, body.duration
        )
        await ctx.sessions.end(session)
        raise


@router.put("/sessions/{session_id}/heartbeat", response_model=HeartbeatAck)
async def heartbeat(
    body: Heartbeat,
    session_id: str = SESSION_ID,
    viewer: Viewer = Depends(current_viewer),
    ctx: ApiContext = Depends(get_ctx),
) -> HeartbeatAck:
    """Renew the stream lease, hand out a fresh token and media prefix, store the position.

    Only a session that still holds its device's lease is renewed: an ended, lapsed or
    replaced one gets 410 here, so its links stop within ``media_link_ttl_s``."""
    session = await ctx.sessions.require(session_id, viewer.sub)
    await _still_playable(ctx, session, viewer, body)
    renewed = await ctx.sessions.heartbeat(session, body.position, link_expiry(ctx))
    await asyncio.to_thread(
        save_progress, ctx.engine, viewer.sub, session.title_id, body.position, body.duration
    )
    signed = sign_session(ctx, renewed)
    return HeartbeatAck(
        session_id=session_id,
        lease_ttl_s=ctx.settings.lease_ttl_s,
        expires_at=renewed.expires_at,
        token=signed.token,
        media_prefix=signed.media_prefix,
        licenses=signed.licenses,
    )


@router.delete("/sessions/{session_id}", status_code=204, response_class=Response)
async def end_session(
    session_id: str = SESSION_ID,
    position: float | None = Query(None, ge=0, le=MAX_POSITION_S, description="final position"),
    duration: float | None = Query(None, gt=0, le=MAX_POSITION_S),
    viewer: Viewer = Depends(current_viewer),
    ctx: ApiContext = Depends(get_ctx),
) -> Response:
    """End the session: its lease frees a stream at once and its licenses stop.

    A player closing a tab sends its last position here (one keepalive request can still
    leave a closing page; a heartbeat and a DELETE could arrive in either order)."""
    session = await ctx.sessions.require(session_id, viewer.sub)
    if position is not None:
        await ctx.sessions.cache_resume(viewer.sub, session.title_id, position)
        await asyncio.to_thread(
            save_progress, ctx.engine, viewer.sub, session.title_id, position, duration
        )
    await ctx.sessions.end(session)
    return Response(status_code=204)
