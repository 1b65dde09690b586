"""QoE beacons from players (``POST /v1/qoe``) and their per-title aggregates for admins.

A beacon is validated here and appended to the viewer event log as a ``qoe`` event, with the
breakdown the API knows and the player does not choose (plan, country and DRM system from
the session, device class from the User-Agent). The events writer turns it into Parquet and
exports the QoE histograms Grafana reads; ``GET /v1/admin/qoe`` aggregates those files
(events/qoe_queries.py). The player's request costs a few Redis round trips and never waits
on the catalog database.

A beacon is accepted only for a playback session of the caller's account playing the title
it names: the live session in Redis, or, for a session that ended (DELETE, or its lease
lapsed), the mark its last beacon while live left for ``lease_ttl_s + BEACON_GRACE_S``, so a
closing tab's final beacon still counts. Every refusal is the same answer (404, one
detail): a made-up title, a random session id and another account's session are not told
apart, so the endpoint says nothing about which titles or sessions exist.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import astuple, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from reelflow.domain.ids import TITLE_ID_PATTERN
from reelflow.events import qoe_queries
from reelflow.events.qoe_queries import DEFAULT_MAX_TITLES, MAX_TITLES, TitleQoE
from reelflow.events.schema import QoE, StoredEvent, store
from reelflow.playback_api.auth.auth import Viewer
from reelflow.playback_api.delivery import bandwidth_hint
from reelflow.playback_api.delivery.bandwidth_hint import BEACON_MAX_KBPS
from reelflow.playback_api.delivery.sessions import SESSION_ID_RE
from reelflow.playback_api.delivery.viewer_events import viewer_context
from reelflow.playback_api.delivery.viewer_privacy import append_consented
from reelflow.playback_api.http.context import ApiContext, current_admin, current_viewer, get_ctx
from reelflow.playback_api.http.observability import device_class
from reelflow.playback_api.http.problems import Problem
from reelflow.playback_api.routes import API_V1

router = APIRouter(prefix=API_V1, tags=["qoe"])

# Players send a beacon every few seconds at most; 120 a minute leaves room for several
# devices on one account and for retries, and stops one token flooding the queue.
RATE_LIMIT_PER_MIN = 120
DEFAULT_WINDOW = timedelta(hours=24)
ERROR_CODE_PATTERN = r"^[A-Za-z0-9._:-]{1,64}$"

# A session's final beacon may arrive after its DELETE (a closing tab sends both at once).
BEACON_GRACE_S = 60
_REFUSED = "no playback session of this account plays this title"

ErrorCode = Annotated[str, StringConstraints(pattern=ERROR_CODE_PATTERN)]


class BeaconIn(BaseModel):
    """One QoE report for a playback session (totals since the previous beacon)."""

    # strict: a count sent as "3" or 3.5 or true is a player bug worth surfacing, not coercing.
    model_config = ConfigDict(extra="forbid", strict=True)

    session_id: str = Field(pattern=SESSION_ID_RE.pattern)
    title_id: str = Field(pattern=TITLE_ID_PATTERN)
    startup_ms: float | None = Field(default=None, ge=0, le=600_000, allow_inf_nan=False)
    rebuffer_count: int = Field(default=0, ge=0, le=100_000)
    rebuffer_ms: float = Field(default=0.0, ge=0, le=86_400_000, allow_inf_nan=False)
    played_ms: float = Field(default=0.0, ge=0, le=86_400_000, allow_inf_nan=False)
    bitrate_switches: int = Field(default=0, ge=0, le=100_000)
    errors: list[ErrorCode] = Field(default_factory=list, max_length=20)
    bandwidth_kbps: float | None = Field(
        default=None,
        ge=0,
        le=BEACON_MAX_KBPS,
        allow_inf_nan=False,
        description="the player's bandwidth estimate (kb/s); kept per account and device "
        "as the next playback start's bandwidth_hint_kbps",
    )


class Accepted(BaseModel):
    accepted: bool = True


class StartupStats(BaseModel):
    samples: int
    p50: float | None
    p95: float | None


class ErrorCodeCount(BaseModel):
    code: str
    count: int


class ErrorStats(BaseModel):
    count: int = Field(description="error codes reported, over every beacon")
    beacons: int = Field(description="beacons that reported at least one error")
    top: list[ErrorCodeCount] = Field(description="the most reported codes, ties by code")
    sampled_beacons: int = Field(
        description="beacons with errors read to rank `top`: every one (equals `beacons`)"
    )
    sample_truncated: bool = Field(
        description="always false: `top` is counted over every beacon (kept for old clients)"
    )


class TitleQoEOut(BaseModel):
    title_id: str
    beacons: int
    sessions: int
    startup_ms: StartupStats
    rebuffer_ratio: float | None = Field(
        description="sum(rebuffer_ms) / (sum(played_ms) + sum(rebuffer_ms)); null if both are 0"
    )
    rebuffer_count: int
    rebuffer_ms: float
    played_ms: float
    bitrate_switches: int
    errors: ErrorStats

    @classmethod
    def of(cls, t: TitleQoE) -> TitleQoEOut:
        return cls(
            title_id=t.title_id,
            beacons=t.beacons,
            sessions=t.sessions,
            startup_ms=StartupStats(
                samples=t.startup_samples, p50=t.startup_p50_ms, p95=t.startup_p95_ms
            ),
            rebuffer_ratio=t.rebuffer_ratio,
            rebuffer_count=t.rebuffer_count,
            rebuffer_ms=t.rebuffer_ms,
            played_ms=t.played_ms,
            bitrate_switches=t.bitrate_switches,
            errors=ErrorStats(
                count=t.error_count,
                beacons=t.beacons_with_errors,
                top=[ErrorCodeCount(code=e.code, count=e.count) for e in t.top_errors],
                sampled_beacons=t.beacons_with_errors,
                sample_truncated=False,
            ),
        )


class QoEReportOut(BaseModel):
    since: datetime
    percentile_method: str = "nearest-rank"
    truncated: bool = Field(description="more titles had beacons than `limit`")
    titles: list[TitleQoEOut]


@router.post(
    "/qoe",
    status_code=202,
    response_model=Accepted,
    responses={
        404: {"description": "not_found: no session of this account plays this title"},
        429: {"description": "rate_limited: more than 120 beacons a minute per account"},
        503: {"description": "service_unavailable: the event log is not reachable"},
    },
)
async def post_beacon(
    body: BeaconIn,
    request: Request,
    viewer: Viewer = Depends(current_viewer),
    ctx: ApiContext = Depends(get_ctx),
) -> Accepted:
    """Accept a player's QoE beacon into the viewer event log; it is stored asynchronously (202).

    The session must be the caller's and play the title in the body (live, or ended within
    a short grace); every refusal is the same 404."""
    await ctx.sessions.hit_rate_limit(f"qoe:{viewer.sub}", RATE_LIMIT_PER_MIN)
    playing = await playing_session(ctx, body.session_id, viewer.sub)
    if playing is None or playing.title_id != body.title_id:
        raise Problem("not_found", _REFUSED)
    device = device_class(request.headers.get("user-agent", ""))
    if body.bandwidth_kbps is not None and playing.device_id is not None:
        # Only a live session names its device; an ended one's last estimate is dropped.
        await bandwidth_hint.remember(
            ctx.redis, ctx.sessions.prefix, viewer.sub, playing.device_id, body.bandwidth_kbps
        )
    # The beacon as a `qoe` event in the viewer event log (docs/events.md), anonymised
    # for an account that opted out of analytics (docs/privacy.md).
    await append_consented(ctx, viewer, [_qoe_event(ctx, viewer, body, playing, device)])
    return Accepted()


def _qoe_event(
    ctx: ApiContext, viewer: Viewer, body: BeaconIn, playing: _Playing, device: str
) -> StoredEvent:
    fields = body.model_dump(exclude={"session_id", "title_id"})
    event = QoE.model_validate(
        {
            **fields,
            "type": "qoe",
            "id": uuid.uuid4(),
            "ts": datetime.now(UTC),
            "title": body.title_id,
            "session": body.session_id,
        }
    )
    base = viewer_context(ctx, viewer)
    where = base.model_copy(update={"plan": playing.plan, "country": playing.country})
    return store(event, where, server={"drm": playing.drm, "device_class": device})


@dataclass(frozen=True)
class _Playing:
    """What a beacon's session plays, and the dimensions QoE is broken down by."""

    title_id: str
    plan: str
    country: str
    drm: str  # the first key system the session may use ("clear" for none)
    device_id: str | None = field(default=None, compare=False)  # while the session is live


async def playing_session(ctx: ApiContext, session_id: str, account: str) -> _Playing | None:
    """What the account's session plays (live, or ended within the grace), else None."""
    mark = f"{ctx.sessions.prefix}qoe-session:{session_id}"
    session = await ctx.sessions.get(session_id)
    if session is not None:
        if session.account != account:
            return None
        playing = _Playing(
            session.title_id,
            session.plan,
            session.country,
            session.drm[0] if session.drm else "clear",
            session.device_id,
        )
        await ctx.redis.set(
            mark,
            json.dumps([session.account, *astuple(playing)[:4]]),
            ex=ctx.settings.lease_ttl_s + BEACON_GRACE_S,
        )
        return playing
    raw = await ctx.redis.get(mark)
    if raw is None:
        return None
    owner, *fields = json.loads(raw)
    if owner != account:
        return None
    # A mark left before the breakdown existed holds the title only.
    title_id, plan, country, drm = [*fields, None, None, None][:4]
    return _Playing(
        str(title_id), str(plan or "unknown"), str(country or "??"), str(drm or "unknown")
    )


@router.get("/admin/qoe", response_model=QoEReportOut, dependencies=[Depends(current_admin)])
async def qoe_report(
    title_id: Annotated[
        str | None, Query(pattern=TITLE_ID_PATTERN, description="only this title")
    ] = None,
    since: Annotated[
        datetime | None,
        Query(
            description=(
                "ISO 8601 with a UTC offset (default: 24 h ago); encode `+` as %2B or use Z"
            )
        ),
    ] = None,
    limit: Annotated[
        int, Query(ge=1, le=MAX_TITLES, description="at most this many titles, busiest first")
    ] = DEFAULT_MAX_TITLES,
    ctx: ApiContext = Depends(get_ctx),
) -> QoEReportOut:
    """Per-title QoE aggregates over beacons received since `since` (admin token), from the
    viewer event log: a beacon counts once the events writer has written it (seconds).

    Startup p50/p95 use the nearest-rank method (the ceil(p*n)-th smallest startup_ms,
    always an observed value) over beacons that reported a startup time.
    """
    if since is None:
        since = datetime.now(UTC) - DEFAULT_WINDOW
    elif since.tzinfo is None:
        # A naive time would be read in some server's local zone; make the caller say.
        raise Problem("validation_error", "since needs a UTC offset, e.g. 2025-01-01T00:00:00Z")
    report = await asyncio.to_thread(
        qoe_queries.qoe_report, ctx.event_files, since=since, title_id=title_id, max_titles=limit
    )
    return QoEReportOut(
        since=report.since,
        truncated=report.truncated,
        titles=[TitleQoEOut.of(t) for t in report.titles],
    )
