"""The viewer's home: ``GET /v1/me/home``, rows of titles picked for them.

The rows and their rules are delivery/home_rows.py (every row filtered at request time by
what the viewer may play now); the model behind the personal rows, its experiment and the
exposure are delivery/recs_variant.py. Items are the catalog's ``TitleSummary`` (signed
artwork links included); the Continue watching row's carry the resume position.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from reelflow.catalog.models import utcnow
from reelflow.playback_api.auth.auth import Viewer
from reelflow.playback_api.delivery import home_rows
from reelflow.playback_api.delivery.recs_variant import viewer_recs
from reelflow.playback_api.http.context import ApiContext, current_viewer, get_ctx
from reelflow.playback_api.http.problems import PROBLEM_MEDIA_TYPE
from reelflow.playback_api.routes import API_V1
from reelflow.playback_api.routes.catalog import (
    ContinueWatchingItem,
    TitleSummary,
    continue_items,
    title_summary,
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
    chosen, recs = await viewer_recs(ctx, viewer, request.headers.get("user-agent", ""), lost)
    rows = await home_rows.home_rows(
        ctx.home, viewer, recs, now=utcnow(), limit=limit, genre_rows=genre_rows
    )
    answer = Home(
        rows=[_row(ctx, viewer, row) for row in rows],
        model=chosen.model,
        model_version=(recs.model_version or None) if recs is not None else None,
        folded_in=recs.folded_in if recs is not None else False,
        experiment=(
            HomeExperiment(key=chosen.experiment, variant=chosen.variant)
            if chosen.experiment is not None and chosen.variant is not None
            else None
        ),
    )
    # Serialised once here: returning the model would have FastAPI validate it again.
    return Response(answer.model_dump_json(), media_type="application/json")


def _row(ctx: ApiContext, viewer: Viewer, row: home_rows.HomeRow) -> HomeRow:
    items: list[ContinueWatchingItem] | list[TitleSummary]
    if row.kind == "continue_watching":
        items = continue_items(ctx, viewer, row)
    else:
        items = [title_summary(ctx, entry, viewer) for entry in row.entries]
    return HomeRow(id=row.id, kind=row.kind, title=row.title, items=items)
