"""`reelflow titles ...`: ingest, follow, inspect and steer title lifecycles.

The commands only; ``title_input`` checks what is typed into a ``TitleInput``,
``title_runs`` finds, starts and queries the workflow runs, ``title_status`` shows them.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from reelflow.cli.title_input import CliError, build_input, fail, iso_instant
from reelflow.cli.title_runs import find_run, query_status, running_runs, start_title
from reelflow.cli.title_status import follow, render_status
from reelflow.config import get_settings
from reelflow.domain.ids import TITLE_ID_RULE
from reelflow.lifecycle import contracts as c

if TYPE_CHECKING:
    from temporalio.client import WorkflowHandle

    from reelflow.workflows.title import TitleWorkflow

titles_app = typer.Typer(no_args_is_help=True, help="title lifecycles (Temporal workflows)")
console = Console()
err = Console(stderr=True)


def _run(coro: Any) -> Any:
    try:
        return asyncio.run(coro)
    except CliError as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(2)


@titles_app.command("ingest")
def ingest(
    source: Annotated[str, typer.Argument(help="file path, http(s) URL or store:<key>")],
    title_id: Annotated[str, typer.Option("--id", help=f"title id: {TITLE_ID_RULE}")],
    name: Annotated[str, typer.Option("--name")],
    synopsis: Annotated[str, typer.Option()] = "",
    genre: Annotated[list[str] | None, typer.Option("--genre")] = None,
    window_start: Annotated[str | None, typer.Option(help="ISO 8601 with offset")] = None,
    window_end: Annotated[str | None, typer.Option(help="ISO 8601 with offset")] = None,
    regions: Annotated[str, typer.Option(help="comma-separated ISO country codes")] = "",
    plans: Annotated[str, typer.Option(help="comma-separated: basic,standard,premium")] = "",
    subtitles: Annotated[list[str] | None, typer.Option(help="LANG=FILE, repeatable")] = None,
    require_approval: Annotated[bool, typer.Option("--require-approval")] = False,
    ladder: Annotated[str, typer.Option(help="per_title or fixed")] = "per_title",
    codec: Annotated[str, typer.Option(help="h264, hevc or av1")] = "h264",
    codecs: Annotated[
        str | None,
        typer.Option(
            help="ladders in one package, comma-separated, the fallback first: h264,av1 adds"
            " an AV1 ladder beside H.264 (players that decode AV1 prefer it)"
        ),
    ] = None,
    version: Annotated[
        int, typer.Option(min=1, help="a re-delivered master: the new version replaces the old")
    ] = 1,
    clear: Annotated[bool, typer.Option("--clear", help="publish without DRM")] = False,
    wait: Annotated[bool, typer.Option("--wait", help="follow with a progress bar")] = False,
) -> None:
    """Start (or join) the lifecycle workflow of a title."""
    settings = get_settings()

    async def go() -> None:
        inp = build_input(
            source,
            title_id,
            name,
            synopsis,
            genre or [],
            window_start,
            window_end,
            regions,
            plans,
            subtitles or [],
            require_approval,
            ladder,
            codec,
            codecs=codecs,
        )
        inp.version = version
        inp.options.drm = not clear
        wf_id = await start_title(settings, inp)
        console.print(
            f"started {wf_id}  (Temporal UI: {settings.temporal_ui_url}/namespaces/"
            f"{settings.temporal_namespace}/workflows/{wf_id})"
        )
        if wait:
            render_status(await follow(settings, title_id, version=version))

    _run(go())


@titles_app.command("status")
def status(
    title_id: str,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Stage, per-step progress, QC report and ladder of a title."""
    st: c.TitleStatus = _run(query_status(get_settings(), title_id))
    if as_json:
        print(json.dumps(asdict(st), indent=2))
    else:
        render_status(st)


@titles_app.command("history")
def history(title_id: str, version: Annotated[int | None, typer.Option()] = None) -> None:
    """Size of the title's workflow history: events, bytes, largest event."""
    from reelflow.workflows.client import history_size

    async def go() -> None:
        handle = await find_run(get_settings(), title_id, version)
        size = await history_size(handle)
        print(
            f"{handle.id}: {size.events} events, {size.bytes} bytes, "
            f"largest event {size.largest_event_bytes} bytes"
        )

    _run(go())


@titles_app.command("list")
def list_titles(state: Annotated[str | None, typer.Option()] = None) -> None:
    """Titles in the catalog, newest first."""
    from reelflow.catalog import engine_from_settings
    from reelflow.catalog import titles as q

    table = Table()
    for col in ("id", "name", "state", "version", "updated"):
        table.add_column(col)
    for t in q.list_titles(engine_from_settings(get_settings()), state=state):
        table.add_row(
            t.id, t.name, t.state, str(t.version), t.updated_at.isoformat(timespec="seconds")
        )
    console.print(table)


SignalSender = Callable[["WorkflowHandle[Any, Any]", "type[TitleWorkflow]"], Awaitable[None]]


def _signal(title_id: str, name: str, send: SignalSender) -> None:
    """Send a signal through the workflow's typed method, so a renamed or re-typed signal
    fails mypy here instead of reaching a running title as an unknown name."""

    async def go() -> None:
        from reelflow.workflows.title import TitleWorkflow

        handle = await find_run(get_settings(), title_id)
        await send(handle, TitleWorkflow)
        console.print(f"sent {name} to {handle.id}")

    _run(go())


@titles_app.command("approve")
def approve(title_id: str, actor: Annotated[str, typer.Option()] = "ops") -> None:
    """Pass the approval gate after QC warnings."""
    _signal(title_id, "approve", lambda h, wf: h.signal(wf.approve, actor))


@titles_app.command("reject")
def reject(title_id: str, reason: Annotated[str, typer.Option()]) -> None:
    """Stop the title at the approval gate."""
    _signal(title_id, "reject", lambda h, wf: h.signal(wf.reject, reason))


@titles_app.command("takedown")
def takedown(title_id: str, reason: Annotated[str, typer.Option()] = "taken down by ops") -> None:
    """Take the title down now: every running version (a live one and any re-delivery)."""
    from reelflow.workflows.title import TitleWorkflow

    async def go() -> None:
        # A re-delivery leaves the live version's run waiting on its window: both must stop.
        handles = await running_runs(get_settings(), title_id)
        if not handles:
            fail(f"no running workflow for title {title_id!r}")
        for handle in handles:
            await handle.signal(TitleWorkflow.takedown, reason)
            console.print(f"sent takedown to {handle.id}")

    _run(go())


@titles_app.command("window")
def window(
    title_id: str,
    start: Annotated[str | None, typer.Option("--start")] = None,
    end: Annotated[str | None, typer.Option("--end")] = None,
) -> None:
    """Change the availability window."""
    try:
        s, e = iso_instant(start, "--start"), iso_instant(end, "--end")
    except CliError as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(2)
    _signal(title_id, "update_window", lambda h, wf: h.signal(wf.update_window, args=[s, e]))


@titles_app.command("notifications")
def notifications(title_id: Annotated[str | None, typer.Argument()] = None) -> None:
    """Studio notifications that were given up on (after retries or a permanent 4xx)."""
    from reelflow.catalog import engine_from_settings
    from reelflow.jobs.webhooks import failed_notifications

    failed = failed_notifications(engine_from_settings(get_settings()), title_id)
    if not failed:
        console.print("no failed studio notifications")
        return
    table = Table(title="failed studio notifications")
    for col in ("title", "version", "event", "attempts", "status", "error", "at"):
        table.add_column(col)
    for n in failed:
        table.add_row(
            n.title_id,
            str(n.version),
            n.event,
            str(n.attempts),
            str(n.http_status or "-"),
            (n.error or "")[:80],
            str(n.at),
        )
    console.print(table)


@titles_app.command("transfer")
def transfer(
    title_id: str,
    to: Annotated[str, typer.Option("--to", help="the studio id that will own the title")],
    actor: Annotated[str, typer.Option()] = "ops",
) -> None:
    """Give a title to another studio (the only way ownership changes; clears the
    callback URL, so the previous owner stops being notified)."""
    from reelflow.catalog import engine_from_settings
    from reelflow.catalog.studio_ingest import NameTakenByNewOwner, UnknownStudio, transfer_title
    from reelflow.catalog.titles import TitleNotFound

    try:
        previous = transfer_title(engine_from_settings(get_settings()), title_id, to, actor=actor)
    except (TitleNotFound, UnknownStudio, NameTakenByNewOwner) as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(2)
    console.print(f"{title_id}: owner {previous or '(ops)'} -> {to}; callback URL cleared")
