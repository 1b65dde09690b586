"""The viewer's home: ``GET /v1/me/home``, rows of titles picked for them.

The rows and their rules are delivery/home_rows.py (every row filtered at request time by
what the viewer may play now); the model behind the personal rows, its experiment and the
exposure are delivery/recs_variant.py. Items are the catalog's ``TitleSummary`` (signed
artwork links included); the Continue watching row's carry the resume position.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from reelflow.catalog.models import utcnow
from reelflow.domain.artwork import candidate_count
from reelflow.playback_api.auth.auth import Viewer
from reelflow.playback_api.delivery import home_rows
from reelflow.playback_api.delivery import viewer_catalog as vc
from reelflow.playback_api.delivery.recs_variant import viewer_recs
from reelflow.playback_api.http.context import ApiContext, current_viewer, get_ctx
from reelflow.playback_api.http.problems import PROBLEM_MEDIA_TYPE
from reelflow.playback_api.routes import API_V1
from reelflow.playback_api.routes.catalog import (
    ContinueWatchingItem,
    TitleSummary,
    continue_items,
    link_expiry,
    link_value,
    title_fields,
)

router = APIRouter(prefix=API_V1, tags=["catalog"])

_PROBLEM: dict[str, Any] = {PROBLEM_MEDIA_TYPE: {}}


class HomeRow(BaseModel):
    id: str = Field(description="Stable across requests, e.g. top-picks, genre-drama.")
    kind: home_rows.RowKind
    title: str = Field(description="The row's heading, e.g. 'Because you watched Dune'.")
    items: list[ContinueWatchingItem] | list[TitleSummary]


class HomeExperiment(BaseModel):
    key: str
    variant: str


class Home(BaseModel):
    rows: list[HomeRow] = Field(description="In display order; empty rows are left out.")
    model: Literal["hybrid", "popularity"] = Field(
        description="The recommendation model behind the personal rows."
    )
    model_version: str | None = Field(
        description="The serving model's version; null when no personal rows were read."
    )
    folded_in: bool = Field(
        description="The personal rows were computed now from the latest watching, not read "
        "from the rows precomputed at training time."
    )
    experiment: HomeExperiment | None = Field(
        description="The experiment and variant that chose the model, if any."
    )


@router.get(
    "/me/home",
    response_model=Home,
    responses={
        401: {"description": "invalid_token or token_expired", "content": _PROBLEM},
        422: {
            "description": "validation_error: limit or genre_rows out of range",
            "content": _PROBLEM,
        },
    },
)
async def home(
    request: Request,
    limit: int = Query(home_rows.ROW_LIMIT, ge=1, le=home_rows.MAX_ROW_LIMIT),
    genre_rows: int = Query(home_rows.GENRE_ROWS, ge=0, le=home_rows.MAX_GENRE_ROWS),
    viewer: Viewer = Depends(current_viewer),
    ctx: ApiContext = Depends(get_ctx),
) -> Response:
    """The caller's home rows, each holding only titles they may play now."""
    lost = request.app.state.metrics.events_lost
    now = utcnow()
    # The two reads that wait on Redis and the catalog run side by side.
    (chosen, recs), watching = await asyncio.gather(
        viewer_recs(ctx, viewer, request.headers.get("user-agent", ""), lost),
        home_rows.continue_watching(ctx.home, viewer, now, limit),
    )
    rows = await home_rows.home_rows(
        ctx.home, viewer, recs, watching, now=now, limit=limit, genre_rows=genre_rows
    )
    experiment = (
        {"key": chosen.experiment, "variant": chosen.variant}
        if chosen.experiment is not None and chosen.variant is not None
        else None
    )
    meta = json.dumps(
        {
            "model": chosen.model,
            "model_version": (recs.model_version or None) if recs is not None else None,
            "folded_in": recs.folded_in if recs is not None else False,
            "experiment": experiment,
        },
        separators=(",", ":"),
    ).encode()
    body = b'{"rows":[' + b",".join(_row(ctx, viewer, row) for row in rows) + b"]," + meta[1:]
    return Response(body, media_type="application/json")


# Rows the same for every viewer of a country and plan (their titles and order): kept whole.
_SHARED_KINDS = frozenset({"new", "genre", "trending"})


def _row(ctx: ApiContext, viewer: Viewer, row: home_rows.HomeRow) -> bytes:
    """One row as ``HomeRow`` JSON, put together from cached fragments: building and signing
    a few hundred summaries per request was most of the home's time (bench/home.py). A
    shared row is kept whole under its exact titles (so it is as fresh as they are) while no
    title in it has artwork candidates to choose per viewer; tests/playback_api/
    test_home.py checks the answer against ``Home``."""
    cache = ctx.home.rendered
    key = None
    if row.kind in _SHARED_KINDS:
        key = (
            "row",
            row.id,
            row.title,
            viewer.country,
            link_expiry(),
            *(e.id for e in row.entries),
        )
        if (data := cache.get(key, row.entries)) is not None:
            return data
    if row.kind == "continue_watching":
        items = [i.model_dump_json().encode() for i in continue_items(ctx, viewer, row)]
    else:
        items = [summary_json(ctx, entry, viewer, cache) for entry in row.entries]
    head = json.dumps({"id": row.id, "kind": row.kind, "title": row.title}, separators=(",", ":"))
    data = head[:-1].encode() + b',"items":[' + b",".join(items) + b"]}"
    if key is not None and all(candidate_count(e.artwork, "poster") <= 1 for e in row.entries):
        cache.put(key, row.entries, data)
    return data


def summary_json(
    ctx: ApiContext, entry: vc.CatalogEntry, viewer: Viewer, cache: home_rows.RenderCache
) -> bytes:
    """``title_summary`` as JSON, kept in ``cache`` while its links stay the same: they
    depend on the title, the country, the link's expiry (the hour) and the viewer's artwork
    candidate only, so a home of a few hundred titles signs each once an hour, not per view."""
    value = link_value(ctx, entry.id, entry.artwork, viewer.country, viewer.sub)
    key = (entry.id, viewer.country, value["e"], value.get("a", 0))
    if (data := cache.get(key, entry)) is not None:
        return data
    fields = title_fields(ctx, entry, entry.artwork, viewer.country, viewer.sub, value)
    data = TitleSummary(**fields, published_at=entry.published_at).model_dump_json().encode()
    cache.put(key, entry, data)
    return data
