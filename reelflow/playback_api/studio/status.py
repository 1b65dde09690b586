"""A studio's view of one title: the workflow's ``status`` query, owner-checked, keys hidden.

Behind ``GET /v1/studio/titles/{title_id}``: the id is looked up in the studio's own
namespace (``studio_ingest.find_studio_title``), the run's memo must agree (a run ops
started by hand has none), and the answer leaves out the object-store keys of the
renditions.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from datetime import timedelta
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field
from temporalio.client import WorkflowQueryFailedError, WorkflowQueryRejectedError
from temporalio.service import RPCError, RPCStatusCode

from reelflow.catalog import studio_ingest as records
from reelflow.catalog.models import Studio
from reelflow.lifecycle import contracts as c
from reelflow.lifecycle.progress import overall_percent
from reelflow.playback_api.http.context import ApiContext
from reelflow.playback_api.http.problems import Problem
from reelflow.playback_api.http.schemas import model_from_dataclass
from reelflow.playback_api.studio.ingest_flow import RPC_TIMEOUT, workflow_owner
from reelflow.workflows.client import find_title_run
from reelflow.workflows.title import TitleWorkflow

QUERY_TIMEOUT = timedelta(seconds=5)
HIDDEN_RENDITION_FIELDS = ("object_key",)  # internal object-store keys stay internal

if TYPE_CHECKING:
    StudioRendition = BaseModel
else:
    # The lifecycle's RenditionInfo without its object key: one definition of the fields.
    StudioRendition = model_from_dataclass(
        c.RenditionInfo,
        "StudioRendition",
        doc="A rendition as a studio sees it: what was made, not where it is stored.",
        exclude=HIDDEN_RENDITION_FIELDS,
    )


class StudioTitleStatus(BaseModel):
    """The title workflow's ``status`` query, plus an overall percentage."""

    title_id: str
    catalog_title_id: str = Field(description="the catalog's id (playback, callbacks)")
    version: int
    workflow_id: str
    workflow_status: str = Field(description="RUNNING, COMPLETED, FAILED, TERMINATED, ...")
    percent: float = Field(description="weighted progress over the processing stages")
    state: str
    stage: str
    stages: list[c.StageState]
    qc_summary: str | None = None
    qc_failures: list[str] = Field(default_factory=list)
    qc_warnings: list[str] = Field(default_factory=list)
    ladder: list[c.RungSpec] = Field(default_factory=list)
    renditions: list[StudioRendition] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)
    window_start: str | None = None
    window_end: str | None = None


async def studio_title_status(
    ctx: ApiContext, studio: Studio, title_id: str, version: int | None
) -> StudioTitleStatus:
    """The status of the studio's title (newest version unless ``version``); 404 when the
    title is another studio's or has no run."""
    not_found = Problem("not_found", "you have no title with this id")
    # Only the studio's own namespace is looked at: another studio's ids are never found.
    title = await asyncio.to_thread(records.find_studio_title, ctx.engine, studio.id, title_id)
    if title is None:
        raise not_found
    wanted = version or title.version
    client = await ctx.temporal()
    try:
        # Under its id, or the legacy id of a version started before the "@v" ids.
        handle = await find_title_run(client, title.id, wanted, rpc_timeout=RPC_TIMEOUT)
        if handle is None:
            raise not_found
        owner, run_status = await workflow_owner(handle)
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise not_found from None
        raise Problem("service_unavailable", "the workflow service did not answer") from exc
    # A run ops started by hand (no memo) is shown: the catalog says the title is yours.
    if owner not in (studio.id, None):
        raise not_found
    try:
        status: c.TitleStatus = await handle.query(TitleWorkflow.status, rpc_timeout=QUERY_TIMEOUT)
    except (RPCError, WorkflowQueryFailedError, WorkflowQueryRejectedError) as exc:
        raise Problem("service_unavailable", "no worker answered the status query") from exc
    return StudioTitleStatus.model_validate(
        {
            **asdict(status),
            "renditions": [
                {k: v for k, v in asdict(r).items() if k not in HIDDEN_RENDITION_FIELDS}
                for r in status.renditions
            ],
            "title_id": title_id,
            "catalog_title_id": title.id,
            "version": wanted,
            "workflow_id": handle.id,
            "workflow_status": run_status,
            "percent": overall_percent(status),
        }
    )
