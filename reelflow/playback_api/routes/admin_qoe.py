"""The admin console's data (admin token): QoE over time by dimension, the worst sessions, and
one title's supply-chain record (lifecycle, QC, ladder, package).

QoE is read from the viewer event log (events/qoe_queries.py: DuckDB over the Parquet files, in
a thread); the title's record is a catalog query. The only thing signed here is a short-lived
media prefix so the console can show the title's sprite sheets from the same /media/ route
players use.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlsplit, urlunsplit

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, Field
from sqlalchemy.engine import Engine

from reelflow.catalog.models import as_utc
from reelflow.catalog.viewer_queries import title_record
from reelflow.domain.ids import TITLE_ID_PATTERN, version_label
from reelflow.domain.ladders import apple_fixed_ladder
from reelflow.events.qoe_queries import (
    MAX_GROUPS,
    MIN_BUCKET_S,
    Dimension,
    SeriesPoint,
    SessionOrder,
    SessionQoE,
    qoe_sessions,
    qoe_timeseries,
)
from reelflow.playback_api.delivery.session_links import thumbnails_prefix
from reelflow.playback_api.http.context import ApiContext, current_admin, get_ctx
from reelflow.playback_api.http.problems import Problem
from reelflow.playback_api.http.schemas import model_from_dataclass, renamed
from reelflow.playback_api.routes import API_V1
from reelflow.storage.layout import parse_origin_key

router = APIRouter(prefix=f"{API_V1}/admin", tags=["admin"], dependencies=[Depends(current_admin)])
DEFAULT_WINDOW = timedelta(hours=24)
# Long enough to load a few sprite sheets, short enough to be useless once copied.
SPRITE_LINK_TTL_S = 300
MAX_EVENTS = 500

_SINCE_DOC = "ISO 8601 with a UTC offset (default: 24 h ago); encode `+` as %2B or use Z"


def _window(since: datetime | None, until: datetime | None) -> tuple[datetime, datetime]:
    now = datetime.now(UTC)
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise Problem("validation_error", f"{name} needs a UTC offset, e.g. 2025-01-01T00:00Z")
    end = until or now
    start = since or end - DEFAULT_WINDOW
    if end <= start:
        raise Problem("validation_error", "until must be after since")
    return start, end


_POINT_NAMES = {"bucket_start": "t"}

if TYPE_CHECKING:
    SeriesPointOut = BaseModel
else:
    # The QoE query's SeriesPoint, its bucket start answered as ``t``: one field list.
    SeriesPointOut = model_from_dataclass(
        SeriesPoint,
        "SeriesPointOut",
        rename=_POINT_NAMES,
        describe={"t": "bucket start (UTC)"},
    )


class SeriesOut(BaseModel):
    since: datetime
    until: datetime
    bucket_s: int
    by: Dimension
    percentile_method: str = "nearest-rank"
    groups: list[str] = Field(description="busiest first; 'unknown' for beacons without it")
    truncated: bool = Field(description="more groups had beacons than `groups` asked for")
    points: list[SeriesPointOut]


@router.get("/qoe/timeseries", response_model=SeriesOut)
async def qoe_timeseries_report(
    by: Annotated[Dimension, Query(description="the breakdown dimension")] = "title",
    since: Annotated[datetime | None, Query(description=_SINCE_DOC)] = None,
    until: Annotated[datetime | None, Query(description="end of the window (default: now)")] = (
        None
    ),
    bucket_s: Annotated[int, Query(ge=MIN_BUCKET_S, le=86_400 * 7)] = 3600,
    groups: Annotated[int, Query(ge=1, le=MAX_GROUPS, description="busiest groups kept")] = 10,
    title_id: Annotated[str | None, Query(pattern=TITLE_ID_PATTERN)] = None,
    ctx: ApiContext = Depends(get_ctx),
) -> SeriesOut:
    """Startup p50/p95, rebuffer ratio and failed sessions per time bucket, one series per
    value of `by` (title, country, plan, drm, device)."""
    start, end = _window(since, until)
    try:
        series = await asyncio.to_thread(
            qoe_timeseries,
            ctx.event_files,
            since=start,
            until=end,
            by=by,
            bucket_s=bucket_s,
            title_id=title_id,
            max_groups=groups,
        )
    except ValueError as exc:  # too many buckets: the message says which knob to turn
        raise Problem("validation_error", str(exc)) from exc
    # The query's Series field for field, its points renamed as SeriesPointOut has them.
    points = [renamed(p, _POINT_NAMES) for p in series.points]
    return SeriesOut.model_validate({**renamed(series, {}), "points": points})


if TYPE_CHECKING:
    SessionOut = BaseModel
else:
    # The QoE query's SessionQoE as the answer's model: one definition of the fields.
    SessionOut = model_from_dataclass(SessionQoE, "SessionOut")


@router.get("/qoe/sessions", response_model=list[SessionOut])
async def qoe_session_list(
    order: Annotated[SessionOrder, Query(description="slowest start-up, or most errors")],
    since: Annotated[datetime | None, Query(description=_SINCE_DOC)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
    ctx: ApiContext = Depends(get_ctx),
) -> list[SessionQoE]:
    """The sessions that started slowest, or that reported playback errors."""
    start, _ = _window(since, None)
    return await asyncio.to_thread(
        qoe_sessions, ctx.event_files, since=start, order=order, limit=limit
    )


class TitleOverview(BaseModel):
    title: dict[str, Any]
    version: int
    lifecycle: list[dict[str, Any]] = Field(description="state changes, oldest first")
    qc: dict[str, Any] | None = Field(description="the stored QC report of this version")
    ladder: dict[str, Any] | None = Field(description="rungs, measurements and hull as stored")
    fixed_ladder: list[dict[str, Any]] = Field(
        description="the fixed (Apple HLS authoring) ladder for this source, for comparison"
    )
    package: dict[str, Any] | None
    sprites: dict[str, Any] | None = Field(
        description="thumbnails WebVTT under a short-lived signed prefix good for the "
        "package's thumbs/ only (no segment)"
    )


@router.get("/titles/{title_id}/overview", response_model=TitleOverview)
async def title_overview(
    title_id: Annotated[str, Path(pattern=TITLE_ID_PATTERN)],
    ctx: ApiContext = Depends(get_ctx),
) -> TitleOverview:
    """One title's newest version: lifecycle timeline, QC report, ladder, package."""
    overview = await asyncio.to_thread(_overview, ctx.engine, title_id)
    if overview is None:
        raise Problem("not_found", "no such title")
    package = overview.package
    if package is not None:
        thumbs = package.get("artwork", {}).get("thumbnails") or []
        version_dir = version_label(parse_origin_key(str(package["origin_prefix"])).version)
        if thumbs:
            expires = int(time.time()) + SPRITE_LINK_TTL_S
            prefix = thumbnails_prefix(ctx, title_id, version_dir, expires)
            overview.sprites = {"prefix": prefix, "vtt": thumbs[0]}
    return overview


def _overview(engine: Engine, title_id: str) -> TitleOverview | None:
    record = title_record(engine, title_id, max_events=MAX_EVENTS)
    if record is None:
        return None
    title, qc, ladder, package = record.title, record.qc, record.ladder, record.package
    media = (qc.report.get("media") or {}) if qc else {}
    fixed: list[dict[str, Any]] = []
    video = _video_stream(media)
    if video:
        fixed = [vars(r) for r in apple_fixed_ladder(video[0], video[1]).rungs]
    return TitleOverview(
        title={
            "id": title.id,
            "name": title.name,
            "state": title.state,
            "duration_s": title.duration_s,
        },
        version=title.version,
        lifecycle=[
            {
                "at": as_utc(e.at),
                "event": e.event,
                "state": e.state,
                "actor": e.actor,
                "detail": public_detail(e.detail),
            }
            for e in record.events
        ],
        qc=qc.report if qc else None,
        ladder=ladder.ladder if ladder else None,
        fixed_ladder=fixed,
        package=None
        if package is None
        else {
            "origin_prefix": package.origin_prefix,
            "encrypted": package.encrypted,
            "drm_systems": package.drm_systems,
            "representations": package.representations,
            "artwork": package.artwork,
            "published_at": as_utc(package.published_at),
        },
        sprites=None,
    )


def public_detail(detail: dict[str, Any]) -> dict[str, Any]:
    """An event's detail for the console: a webhook's callback URL loses its user info,
    query and fragment, where a studio may have put a token."""
    out = dict(detail)
    url = out.get("callback_url")
    if isinstance(url, str):
        parts = urlsplit(url)
        host = parts.hostname or ""
        netloc = f"{host}:{parts.port}" if parts.port else host
        out["callback_url"] = urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    return out


def _video_stream(media: dict[str, Any]) -> tuple[int, int] | None:
    video = media.get("video") or {}
    width, height = video.get("width"), video.get("height")
    if isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0:
        return width, height
    return None
