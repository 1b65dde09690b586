"""`reelflow titles ...`: ingest, follow, inspect and steer title lifecycles."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from reelflow.config import Settings, get_settings
from reelflow.domain.codecs import VIDEO_CODECS
from reelflow.domain.ids import TITLE_ID_RULE, is_title_id, workflow_id
from reelflow.lifecycle import contracts as c
from reelflow.lifecycle.progress import overall_percent

if TYPE_CHECKING:
    from temporalio.client import WorkflowHandle

    from reelflow.workflows.title import TitleWorkflow

titles_app = typer.Typer(no_args_is_help=True, help="title lifecycles (Temporal workflows)")
console = Console()
err = Console(stderr=True)
CODEC_CHOICES = ", ".join(VIDEO_CODECS)


class CliError(Exception):
    """A user-facing error: printed in red, exit code 2."""


def fail(message: str) -> NoReturn:
    raise CliError(message)


def _check_id(title_id: str, what: str = "title id") -> None:
    if not is_title_id(title_id):
        fail(f"{what} {title_id!r} is not a title id: use {TITLE_ID_RULE}")


def _iso(value: str | None, flag: str) -> str | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        fail(f"{flag}: {value!r} is not an ISO 8601 date/time (e.g. 2026-12-01T00:00:00+00:00)")
    if parsed.tzinfo is None:
        fail(f"{flag}: {value!r} has no UTC offset; add one, e.g. +00:00")
    return parsed.isoformat()


def _source(value: str) -> str:
    if re.match(r"^(https?|file)://|^store:", value):
        return value
    path = Path(value).expanduser().resolve()
    if not path.is_file():
        fail(f"no such file: {value}")
    return str(path)


async def _client(settings: Settings) -> Any:
    from reelflow.workflows.client import TemporalUnavailable, connect

    try:
        return await connect(settings)
    except TemporalUnavailable as exc:
        fail(str(exc))


async def _handle(settings: Settings, title_id: str, version: int | None = None) -> Any:
    from temporalio.service import RPCError

    from reelflow.workflows.client import find_title_run

    _check_id(title_id)
    client = await _client(settings)
    wanted = version or _current_version(settings, title_id)
    try:
        handle = await find_title_run(client, title_id, wanted)
    except RPCError as exc:
        fail(f"cannot look up {title_id!r}: {exc}")
    if handle is None:
        fail(f"unknown title {title_id!r}: no workflow {workflow_id(title_id, wanted)}")
    return handle


def _current_version(settings: Settings, title_id: str) -> int:
    """The newest version the catalog knows for a title (1 when it knows none)."""
    try:
        from reelflow.catalog import engine_from_settings
        from reelflow.catalog import titles as q

        return q.get_title(engine_from_settings(settings), title_id).version
    except Exception:
        return 1


async def query_status(settings: Settings, title_id: str) -> c.TitleStatus:
    from reelflow.workflows.title import TitleWorkflow

    handle = await _handle(settings, title_id)
    status: c.TitleStatus = await handle.query(TitleWorkflow.status)
    return status


async def start_title(settings: Settings, inp: c.TitleInput) -> str:
    """Start the title's workflow; a duplicate ingest joins the existing run instead."""
    from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
    from temporalio.exceptions import WorkflowAlreadyStartedError

    from reelflow.workflows.client import find_title_run
    from reelflow.workflows.title import TitleWorkflow

    client = await _client(settings)
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


async def follow(
    settings: Settings, title_id: str, *, quiet: bool = False, version: int | None = None
) -> c.TitleStatus:
    """Poll the workflow's status query with a progress bar until it stops moving."""
    from temporalio.client import WorkflowExecutionStatus

    handle = await _handle(settings, title_id, version)
    from reelflow.workflows.title import TitleWorkflow

    with Progress(
        TextColumn("[bold]{task.fields[stage]:<11}"),
        BarColumn(),
        TextColumn("{task.percentage:>5.1f}%"),
        TextColumn("{task.fields[state]}"),
        TimeElapsedColumn(),
        console=console,
        disable=quiet,
    ) as bar:
        task = bar.add_task("title", total=100, stage="", state="")
        while True:
            desc = await handle.describe()
            status: c.TitleStatus = await handle.query(TitleWorkflow.status)
            bar.update(
                task, completed=overall_percent(status), stage=status.stage, state=status.state
            )
            if desc.status != WorkflowExecutionStatus.RUNNING:
                return status
            if status.state in ("awaiting_approval", "published", "renditions_ready"):
                return status
            await asyncio.sleep(0.5)


def render_status(status: c.TitleStatus) -> None:
    console.print(
        f"[bold]{status.title_id}[/] v{status.version}  state [bold]{status.state}[/]"
        f"  stage {status.stage}  {overall_percent(status)}%"
    )
    table = Table(show_header=True)
    for col in ("stage", "state", "progress", "detail"):
        table.add_column(col)
    for st in status.stages:
        table.add_row(st.name, st.state, f"{st.progress:.0f}%", st.detail)
    console.print(table)
    if status.qc_summary:
        console.print(f"QC: {status.qc_summary}")
    for line in status.qc_failures:
        console.print(f"  [red]fail[/] {line}")
    for line in status.qc_warnings:
        console.print(f"  [yellow]warn[/] {line}")
    # One line per codec: a package with ladders beside H.264 lists each under its name.
    by_codec: dict[str, list[str]] = {}
    for r in status.ladder:
        by_codec.setdefault(r.codec, []).append(f"{r.width}x{r.height}@{r.bitrate_kbps}k")
    for codec, rungs in by_codec.items():
        label = "ladder" if len(by_codec) == 1 else f"ladder ({codec})"
        console.print(f"{label}: " + ", ".join(rungs))
    if by_codec:
        console.print(f"quality metric: {status.ladder_metric or 'none (fixed ladder)'}")
    for e in status.errors:
        console.print(f"[red]error:[/] {e}")


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


def _codec_list(codecs: str, codec: str) -> tuple[str, list[str]]:
    """``--codecs h264,av1``: the main (fallback) codec and the ladders beside it."""
    names = [x.strip() for x in codecs.split(",") if x.strip()]
    if not names:
        fail(f"--codecs: name at least one of {CODEC_CHOICES} (e.g. h264,av1)")
    for x in names:
        if x not in VIDEO_CODECS:
            fail(f"--codecs: unknown codec {x!r}: choose from {CODEC_CHOICES}")
        if names.count(x) > 1:
            fail(f"--codecs: {x} is named twice")
    if codec != "h264" and codec != names[0]:
        fail(f"--codec {codec} and --codecs {codecs} disagree: give --codecs alone")
    return names[0], names[1:]


def build_input(
    source: str,
    title_id: str,
    name: str,
    synopsis: str,
    genres: list[str],
    window_start: str | None,
    window_end: str | None,
    regions: str,
    plans: str,
    subtitles: list[str],
    require_approval: bool,
    ladder: str,
    codec: str,
    *,
    codecs: str | None = None,
) -> c.TitleInput:
    _check_id(title_id, "--id")
    if not name.strip() or len(name) > 300:
        fail("--name must be 1-300 characters")
    if ladder not in ("per_title", "fixed"):
        fail(f"--ladder {ladder!r}: choose per_title or fixed")
    if codec not in VIDEO_CODECS:
        fail(f"--codec {codec!r}: choose from {CODEC_CHOICES}")
    extra: list[str] = []
    if codecs is not None:
        codec, extra = _codec_list(codecs, codec)
    start, end = _iso(window_start, "--window-start"), _iso(window_end, "--window-end")
    if start and end and datetime.fromisoformat(end) <= datetime.fromisoformat(start):
        fail("--window-end must be after --window-start")
    region_list = [r.strip().upper() for r in regions.split(",") if r.strip()]
    for r in region_list:
        if not re.fullmatch(r"[A-Z]{2}", r):
            fail(f"--regions: {r!r} is not an ISO 3166 alpha-2 code")
    plan_list = [p.strip() for p in plans.split(",") if p.strip()]
    for p in plan_list:
        if p not in ("basic", "standard", "premium"):
            fail(f"--plans: unknown plan {p!r} (basic, standard, premium)")
    subs: list[c.SubtitleSource] = []
    for spec in subtitles:
        lang, sep, path = spec.partition("=")
        if not sep or not re.fullmatch(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})?", lang):
            fail(f"--subtitles {spec!r}: use LANG=FILE, e.g. en=captions.srt")
        subs.append(c.SubtitleSource(lang, _source(path)))
    return c.TitleInput(
        title_id=title_id,
        source=_source(source),
        name=name.strip(),
        synopsis=synopsis,
        genres=genres,
        options=c.TitleOptions(
            require_approval=require_approval, ladder=ladder, codec=codec, extra_codecs=extra
        ),
        availability=c.AvailabilitySpec(start, end, region_list, plan_list),
        subtitles=subs,
    )


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
        handle = await _handle(get_settings(), title_id, version)
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

        handle = await _handle(get_settings(), title_id)
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
    from temporalio.client import WorkflowExecutionStatus

    from reelflow.workflows.client import find_title_run
    from reelflow.workflows.title import TitleWorkflow

    async def go() -> None:
        _check_id(title_id)
        settings = get_settings()
        client = await _client(settings)
        sent = 0
        # A re-delivery leaves the live version's run waiting on its window: both must stop.
        for version in range(_current_version(settings, title_id), 0, -1):
            handle = await find_title_run(client, title_id, version)
            if handle is None:
                continue
            if (await handle.describe()).status != WorkflowExecutionStatus.RUNNING:
                continue
            await handle.signal(TitleWorkflow.takedown, reason)
            console.print(f"sent takedown to {handle.id}")
            sent += 1
        if not sent:
            fail(f"no running workflow for title {title_id!r}")

    _run(go())


@titles_app.command("window")
def window(
    title_id: str,
    start: Annotated[str | None, typer.Option("--start")] = None,
    end: Annotated[str | None, typer.Option("--end")] = None,
) -> None:
    """Change the availability window."""
    try:
        s, e = _iso(start, "--start"), _iso(end, "--end")
    except CliError as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(2)
    _signal(title_id, "update_window", lambda h, wf: h.signal(wf.update_window, args=[s, e]))


def new_demo_id() -> str:
    return f"demo-{uuid.uuid4().hex[:6]}"


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
    from reelflow.catalog.titles import TitleNotFound
    from reelflow.catalog.studio_ingest import UnknownStudio, transfer_title

    try:
        previous = transfer_title(engine_from_settings(get_settings()), title_id, to, actor=actor)
    except (TitleNotFound, UnknownStudio) as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(2)
    console.print(f"{title_id}: owner {previous or '(ops)'} -> {to}; callback URL cleared")
