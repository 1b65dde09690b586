"""A title's workflow runs as the CLI reaches them: connect to Temporal, find the run of a
title version (under its id or the legacy one), start or join a run, query its status.

Failures an operator can act on (Temporal unreachable, an unknown title, a bad id) become
``CliError`` with the reason.
"""

from __future__ import annotations

from typing import Any

from reelflow.cli.title_input import check_title_id, fail
from reelflow.config import Settings
from reelflow.domain.ids import workflow_id
from reelflow.lifecycle import contracts as c


async def connect_client(settings: Settings) -> Any:
    from reelflow.workflows.client import TemporalUnavailable, connect

    try:
        return await connect(settings)
    except TemporalUnavailable as exc:
        fail(str(exc))


def current_version(settings: Settings, title_id: str) -> int:
    """The newest version the catalog knows for a title (1 when it knows none)."""
    try:
        from reelflow.catalog import engine_from_settings
        from reelflow.catalog import titles as q

        return q.get_title(engine_from_settings(settings), title_id).version
    except Exception:
        return 1


async def find_run(settings: Settings, title_id: str, version: int | None = None) -> Any:
    """The handle of a title version's run (the newest version by default)."""
    from temporalio.service import RPCError

    from reelflow.workflows.client import find_title_run

    check_title_id(title_id)
    client = await connect_client(settings)
    wanted = version or current_version(settings, title_id)
    try:
        handle = await find_title_run(client, title_id, wanted)
    except RPCError as exc:
        fail(f"cannot look up {title_id!r}: {exc}")
    if handle is None:
        fail(f"unknown title {title_id!r}: no workflow {workflow_id(title_id, wanted)}")
    return handle


async def query_status(settings: Settings, title_id: str) -> c.TitleStatus:
    from reelflow.workflows.title import TitleWorkflow

    handle = await find_run(settings, title_id)
    status: c.TitleStatus = await handle.query(TitleWorkflow.status)
    return status


async def start_title(settings: Settings, inp: c.TitleInput) -> str:
    """Start the title's workflow; a duplicate ingest joins the existing run instead."""
    from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
    from temporalio.exceptions import WorkflowAlreadyStartedError

    from reelflow.workflows.client import find_title_run
    from reelflow.workflows.title import TitleWorkflow

    client = await connect_client(settings)
    inp.media_queue = settings.media_queue
    running = await find_title_run(client, inp.title_id, inp.version)
    if running is not None:  # this version's run, possibly under its legacy id
        return str(running.id)
    try:
        handle = await client.start_workflow(
            TitleWorkflow.run,
            inp,
            id=workflow_id(inp.title_id, inp.version),
            task_queue=settings.control_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
    except WorkflowAlreadyStartedError:
        return workflow_id(inp.title_id, inp.version)
    return str(handle.id)


async def running_runs(settings: Settings, title_id: str) -> list[Any]:
    """Every version's run of the title still running, the newest first (a re-delivery
    leaves the live version's run waiting on its window)."""
    from temporalio.client import WorkflowExecutionStatus

    from reelflow.workflows.client import find_title_run

    check_title_id(title_id)
    client = await connect_client(settings)
    running = []
    for version in range(current_version(settings, title_id), 0, -1):
        handle = await find_title_run(client, title_id, version)
        if handle is None:
            continue
        if (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
            running.append(handle)
    return running
