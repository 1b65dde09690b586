"""The viewer catalog: listing, detail, artwork, search and continue watching.

A title is in a viewer's catalog when it is published with a live package and
``entitlements.is_visible`` for the viewer's country now. Anything else answers exactly
like a title that does not exist (404 ``not_found``, same detail), so the API never
reveals that a geo-blocked or unreleased title is there.

Artwork is fetched by ``<img>`` tags and CSS, which send no token, so its links are
signed instead: the catalog answers carry ``.../artwork/<kind>?v=<signed>``, where the
signed value names the title, the viewer's country (from their verified token) and an
expiry. The artwork endpoint applies the same visibility rule to that country at request
time; an unsigned or altered link is refused whatever the title, so it says nothing about
which titles exist.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Generator
from datetime import datetime
from typing import Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from reelflow.catalog.models import as_utc, utcnow
from reelflow.catalog.search import MAX_QUERY_CHARS
from reelflow.domain.ids import is_title_id
from reelflow.playback_api.auth.auth import Viewer
from reelflow.playback_api.auth.signing import (
    MEDIA_CONTENT_TYPES,
    BadSignedValue,
    open_signed_value,
    sign_value,
)
from reelflow.playback_api.delivery import artwork_choice, home_rows
from reelflow.playback_api.delivery import viewer_catalog as vc
from reelflow.playback_api.delivery.entitlements import is_visible
from reelflow.playback_api.delivery.recs_variant import viewer_recs
from reelflow.playback_api.delivery.search_rank import SEARCH_POOL, personal_order
from reelflow.playback_api.delivery.title_cache import TitleView
from reelflow.playback_api.delivery.viewing_progress import resume_position
from reelflow.playback_api.http.context import ApiContext, current_viewer, get_ctx
from reelflow.playback_api.http.problems import PROBLEM_MEDIA_TYPE, Problem
from reelflow.playback_api.routes import API_V1
from reelflow.storage import InvalidObjectKey, ObjectNotFound, ObjectStore, StorageUnavailable
from reelflow.storage.layout import origin_key

router = APIRouter(prefix=API_V1, tags=["catalog"])

ArtworkKind = Literal["poster", "backdrop"]
ARTWORK_KINDS: tuple[ArtworkKind, ...] = ("poster", "backdrop")
# Private and short: a shared cache must not keep serving a title after its takedown.
ARTWORK_CACHE_CONTROL = "private, max-age=600"
_ARTWORK_LINK_CONTEXT = b"reelflow artwork-link v1"
# Links expire on the hour after next (1-2 h from now), so a page's URLs stay the same for an
# hour and the browser's image cache keeps hitting.
_ARTWORK_LINK_BUCKET_S = 3600
MAX_ARTWORK_LINK_CHARS = 512
_NOT_FOUND = "no such title"
# PostgreSQL text cannot hold NUL: refused as a 422 here rather than a database error.
_NO_CONTROL_CHARS = r"^[^\x00-\x1f\x7f]+$"
_PROBLEM: dict[str, Any] = {PROBLEM_MEDIA_TYPE: {}}
_UNAUTHORIZED: dict[int | str, dict[str, Any]] = {
    401: {"description": "invalid_token or token_expired", "content": _PROBLEM}
}
_TITLE_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "not_found: no such title visible to the caller", "content": _PROBLEM}
}


# ---- response models -----------------------------------------------------------------------


class ArtworkLinks(BaseModel):
    """Absolute, signed artwork URLs (no token needed; valid 1-2 h); add ``width=`` to the
    query for a smaller image."""

    poster: str | None = None
    backdrop: str | None = None


class _TitleFields(BaseModel):
    """What every answer about a title starts with (a base only: not in the OpenAPI)."""

    id: str
    name: str
    synopsis: str
    genres: list[str]
    rating: str | None
    duration_s: float | None
    artwork: ArtworkLinks


class TitleSummary(_TitleFields):
    published_at: datetime


class TitlePage(BaseModel):
    items: list[TitleSummary]
    next_cursor: str | None = Field(
        description="Pass as ?cursor= for the next page; null on the last page."
    )


class AvailabilityWindow(BaseModel):
    start: datetime | None
    end: datetime | None = Field(description="Exclusive: the title leaves the catalog then.")


class TitleDetail(_TitleFields):
    audio_languages: list[str]
    subtitle_languages: list[str]
    availability: AvailabilityWindow
    max_height: int = Field(description="Tallest video rendition in the package.")
    resume_position_s: float = Field(description="Where playback resumes; 0 to start over.")


class SearchResults(BaseModel):
    items: list[TitleSummary]


class ContinueWatchingItem(TitleSummary):
    resume_position_s: float
    last_watched_at: datetime


class ContinueWatching(BaseModel):
    items: list[ContinueWatchingItem]


# ---- helpers -------------------------------------------------------------------------------


def link_value(
    ctx: ApiContext, title_id: str, artwork: dict[str, list[str]], country: str, viewer: str
) -> dict[str, Any]:
    """What an artwork link signs: title, country, expiry and the viewer's candidate."""
    choice = artwork_choice.link_choice(ctx.artwork_chooser, viewer, title_id, artwork)
    return {"t": title_id, "c": country, "e": link_expiry(), **choice}  # the viewer's candidate


def link_expiry() -> int:
    """When artwork links signed now expire: the hour after next."""
    return (int(time.time()) // _ARTWORK_LINK_BUCKET_S + 2) * _ARTWORK_LINK_BUCKET_S


def _artwork_links(
    ctx: ApiContext,
    title_id: str,
    artwork: dict[str, list[str]],
    country: str,
    viewer: str = "",
    value: dict[str, Any] | None = None,
) -> ArtworkLinks:
    value = value or link_value(ctx, title_id, artwork, country, viewer)
    link = sign_value(ctx.signing_secret, _ARTWORK_LINK_CONTEXT, value)
    base = f"{ctx.public_base}/v1/titles/{quote(title_id, safe='')}/artwork"
    links = {
        kind: f"{base}/{kind}?v={link}" if artwork.get(kind) else None for kind in ARTWORK_KINDS
    }
    return ArtworkLinks(**links)


def _artwork_country(ctx: ApiContext, title_id: str, link: str | None) -> tuple[str, int]:
    """The country and artwork candidate a link was signed for; refuses unsigned or stale links.

    The refusal does not depend on the title, so it reveals nothing about which exist."""
    if link is None:
        raise Problem("forbidden", "artwork links come signed from the catalog answers")
    try:
        value = open_signed_value(
            ctx.signing_secret, _ARTWORK_LINK_CONTEXT, link, max_chars=MAX_ARTWORK_LINK_CHARS
        )
    except BadSignedValue:
        raise Problem("forbidden", "this artwork link is not one the catalog signed")
    if not isinstance(value, dict) or value.get("t") != title_id:
        raise Problem("forbidden", "this artwork link is not one the catalog signed")
    expires, country = value.get("e"), value.get("c")
    candidate = artwork_choice.signed_candidate(value)
    if not isinstance(expires, int) or not isinstance(country, str) or candidate is None:
        raise Problem("forbidden", "this artwork link is not one the catalog signed")
    if expires <= time.time():
        raise Problem("link_expired", "this artwork link has expired; list the catalog again")
    return country, candidate


def title_summary(ctx: ApiContext, entry: vc.CatalogEntry, viewer: Viewer) -> TitleSummary:
    return TitleSummary(
        **title_fields(ctx, entry, entry.artwork, viewer.country, viewer.sub),
        published_at=entry.published_at,
    )


def title_fields(
    ctx: ApiContext,
    item: vc.CatalogEntry | TitleView,
    artwork: dict[str, list[str]],
    country: str,
    viewer: str = "",  # whose artwork candidate the links name
    link_value: dict[str, Any] | None = None,  # the links' signed value, when computed already
) -> dict[str, Any]:
    """The ``_TitleFields`` of a listed entry or a cached title view."""
    return {
        "id": item.id,
        "name": item.name,
        "synopsis": item.synopsis,
        "genres": list(item.genres),
        "rating": item.rating,
        "duration_s": item.duration_s,
        "artwork": _artwork_links(ctx, item.id, artwork, country, viewer, link_value),
    }


async def _published_view(ctx: ApiContext, title_id: str) -> TitleView:
    """The title if it is published with a live package; a not_found Problem otherwise."""
    view = await ctx.titles.title(title_id) if is_title_id(title_id) else None
    if view is None or not view.published:
        raise Problem("not_found", _NOT_FOUND)
    return view


def _open_image(store: ObjectStore, key: str) -> tuple[int, Generator[bytes, None, None]]:
    size = store.stat(key).size
    return size, store.open_read(key)


# ---- endpoints -----------------------------------------------------------------------------


@router.get("/titles", response_model=TitlePage, responses=_UNAUTHORIZED)
async def list_titles(
    limit: int = Query(20, ge=1, le=100),
    cursor: str | None = Query(None, max_length=vc.MAX_CURSOR_CHARS),
    genre: str | None = Query(None, min_length=1, max_length=64, pattern=_NO_CONTROL_CHARS),
    viewer: Viewer = Depends(current_viewer),
    ctx: ApiContext = Depends(get_ctx),
) -> TitlePage:
    """Titles the caller can watch now, newest published first, in pages."""
    after = None
    if cursor is not None:
        try:
            after = vc.decode_cursor(ctx.signing_secret, cursor)
        except vc.BadCursor:
            raise Problem("validation_error", "the cursor is not valid; list again without it")
    entries, next_key = await asyncio.to_thread(
        vc.list_visible,
        ctx.engine,
        country=viewer.country,
        now=utcnow(),
        limit=limit,
        after=after,
        genre=genre,
    )
    return TitlePage(
        items=[title_summary(ctx, e, viewer) for e in entries],
        next_cursor=vc.encode_cursor(ctx.signing_secret, next_key) if next_key else None,
    )


@router.get(
    "/titles/{title_id}",
    response_model=TitleDetail,
    responses={**_UNAUTHORIZED, **_TITLE_NOT_FOUND},
)
async def title_detail(
    title_id: str,
    viewer: Viewer = Depends(current_viewer),
    ctx: ApiContext = Depends(get_ctx),
) -> TitleDetail:
    """One title with its languages, window and the caller's resume position."""
    view = await _published_view(ctx, title_id)
    package = view.package
    if package is None or not is_visible(view.availability, viewer.country, utcnow()):
        raise Problem("not_found", _NOT_FOUND)
    resume = await asyncio.to_thread(
        resume_position, ctx.engine, viewer.sub, view.id, view.duration_s
    )
    await artwork_choice.count_click(ctx.artwork_chooser, viewer.sub, view.id, package.artwork)
    return TitleDetail(
        **title_fields(ctx, view, package.artwork, viewer.country, viewer.sub),
        audio_languages=package.languages("audio"),
        subtitle_languages=package.languages("text"),
        availability=AvailabilityWindow(
            start=as_utc(view.availability.window_start),
            end=as_utc(view.availability.window_end),
        ),
        max_height=package.max_height,
        resume_position_s=resume,
    )


@router.get(
    "/titles/{title_id}/artwork/{kind}",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"image/jpeg": {}}, "description": "The image."},
        403: {"description": "forbidden: the link is not signed", "content": _PROBLEM},
        404: {
            "description": "not_found: no such title visible in the link's country, or image",
            "content": _PROBLEM,
        },
        410: {"description": "link_expired: list the catalog again", "content": _PROBLEM},
        503: {"description": "service_unavailable: the object store", "content": _PROBLEM},
    },
)
async def title_artwork(
    title_id: str,
    kind: ArtworkKind,
    width: int | None = Query(None, ge=1, le=10_000, description="Smallest image this wide."),
    v: str | None = Query(
        None, max_length=MAX_ARTWORK_LINK_CHARS, description="The link's signature, as given."
    ),
    ctx: ApiContext = Depends(get_ctx),
) -> StreamingResponse:
    """Poster or backdrop of a title visible in the link's country now.

    No token (<img> tags cannot send one): the link itself is signed by the catalog answer
    that gave it, for the viewer's country."""
    country, candidate = _artwork_country(ctx, title_id, v)
    view = await _published_view(ctx, title_id)
    if view.package is None or not is_visible(view.availability, country, utcnow()):
        raise Problem("not_found", _NOT_FOUND)
    artwork = view.package.artwork
    paths = await artwork_choice.served_paths(
        ctx.artwork_chooser, view.id, artwork, kind, candidate
    )
    if not paths:
        raise Problem("not_found", f"this title has no {kind}")
    rel = vc.pick_artwork(paths, width)
    try:
        key = origin_key(view.id, view.package.version, rel)
        size, chunks = await asyncio.to_thread(_open_image, ctx.store, key)
    except (ObjectNotFound, InvalidObjectKey):
        raise Problem("not_found", f"this title has no {kind}")
    except StorageUnavailable:
        raise Problem("service_unavailable", "the object store is not reachable")
    ext = rel.rsplit(".", 1)[-1].lower()
    return StreamingResponse(
        chunks,
        media_type=MEDIA_CONTENT_TYPES.get(ext, "image/jpeg"),
        headers={"Cache-Control": ARTWORK_CACHE_CONTROL, "Content-Length": str(size)},
    )


@router.get("/search", response_model=SearchResults, responses=_UNAUTHORIZED)
async def search(
    request: Request,
    q: str = Query(..., min_length=1, max_length=MAX_QUERY_CHARS),
    limit: int = Query(20, ge=1, le=SEARCH_POOL),
    viewer: Viewer = Depends(current_viewer),
    ctx: ApiContext = Depends(get_ctx),
) -> SearchResults:
    """Full-text search (name, synopsis, genres; the last word as a prefix) over titles the
    caller may play now (plan included), in their own order (delivery/search_rank.py)."""
    entries = await asyncio.to_thread(
        vc.search_visible,
        ctx.engine,
        q,
        country=viewer.country,
        now=utcnow(),
        limit=SEARCH_POOL,
        plan=viewer.plan,
    )
    if len(entries) > 1:
        lost = request.app.state.metrics.events_lost
        _, recs = await viewer_recs(ctx, viewer, request.headers.get("user-agent", ""), lost)
        if recs is not None:
            entries = personal_order(q, entries, recs)
    return SearchResults(items=[title_summary(ctx, e, viewer) for e in entries[:limit]])


@router.get("/me/continue-watching", response_model=ContinueWatching, responses=_UNAUTHORIZED)
async def continue_watching(
    limit: int = Query(20, ge=1, le=50),
    viewer: Viewer = Depends(current_viewer),
    ctx: ApiContext = Depends(get_ctx),
) -> ContinueWatching:
    """Unfinished titles the caller may still play, latest first (the home's first row)."""
    row = await home_rows.continue_watching(ctx.home, viewer, utcnow(), limit)
    return ContinueWatching(items=continue_items(ctx, viewer, row))


def continue_items(
    ctx: ApiContext, viewer: Viewer, row: home_rows.HomeRow
) -> list[ContinueWatchingItem]:
    return [
        ContinueWatchingItem(
            **title_fields(ctx, entry, entry.artwork, viewer.country, viewer.sub),
            published_at=entry.published_at,
            resume_position_s=row.resume[entry.id].position_s,
            last_watched_at=row.resume[entry.id].watched_at,
        )
        for entry in row.entries
    ]
