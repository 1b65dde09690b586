"""`reelflow live create | status | stop`: live channels from the command line.

``create`` stores the channel with a fresh stream key (sealed; shown this once), starts its
LiveChannelWorkflow and returns when a live host's SRT listener is up, printing what an
encoder dials. ``status`` reads the workflow's state; ``stop`` ends the channel.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from reelflow.config import ConfigError, Settings, get_settings

if TYPE_CHECKING:
    from temporalio.client import Client

    from reelflow.lifecycle.live_channels import ChannelStatus

live_app = typer.Typer(help="Live channels: create, status, stop.", no_args_is_help=True)
err = Console(stderr=True)
LISTEN_WAIT_S = 120.0


def _fail(message: str, code: int = 2) -> typer.Exit:
    err.print(f"[red]{message}[/]")
    return typer.Exit(code)


def _srt_url(status: ChannelStatus) -> str | None:
    r = status.report
    if r is None or r.srt_port is None:
        return None
    return f"srt://{r.host}:{r.srt_port}?mode=caller&latency=200000"


def _status_doc(status: ChannelStatus) -> dict[str, Any]:
    r = status.report
    return {
        "id": status.channel_id,
        "state": status.state,
        "listening": bool(r and r.listening),
        "srt_url": _srt_url(status),
        "rtmp_url": None,  # RTMP ingest is not built yet (docs/live.md)
        "connections": r.connections if r else 0,
        "speed": r.speed if r else None,
        "last_refusal": r.last_refusal if r else None,
        "reason": status.reason,
        "recorded_s": status.recorded_s,
    }


async def _client(settings: Settings) -> Client:
    from reelflow.workflows.client import connect

    return await connect(settings)


async def _start_and_wait(settings: Settings, channel_id: str, wait_s: float) -> ChannelStatus:
    from reelflow.lifecycle.live_channels import ChannelRun, channel_workflow_id
    from reelflow.workflows.live_channel import LiveChannelWorkflow

    client = await _client(settings)
    handle = await client.start_workflow(
        LiveChannelWorkflow.run,
        ChannelRun(channel_id, settings.live_queue),
        id=channel_workflow_id(channel_id),
        task_queue=settings.control_queue,
    )
    deadline = time.monotonic() + wait_s
    while True:
        status = await handle.query(LiveChannelWorkflow.status)
        if (status.report and status.report.listening) or status.state == "ended":
            return status
        if time.monotonic() > deadline:
            return status
        await asyncio.sleep(0.5)


@live_app.command("create")
def create(
    channel_id: Annotated[str, typer.Option("--id", help="a title id: a-z 0-9 _ -")],
    name: Annotated[str, typer.Option("--name")],
    rungs: Annotated[str, typer.Option(help="rung heights, comma-separated")] = "240,360",
    dvr_s: Annotated[int, typer.Option("--dvr", help="time-shift window, seconds")] = 7200,
    latency: Annotated[str, typer.Option(help="low or standard")] = "low",
    reconnect_s: Annotated[
        int, typer.Option("--reconnect", help="seconds to wait for an encoder to come back")
    ] = 60,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    wait_s: Annotated[
        float, typer.Option("--wait", help="seconds to wait for ingest")
    ] = LISTEN_WAIT_S,
) -> None:
    """Create a channel and return once its ingest listens; prints the stream key once."""
    from reelflow.catalog import engine_from_settings
    from reelflow.catalog.live_channels import ChannelIdTaken, delete_channel
    from reelflow.domain.channels import ChannelConfig, InvalidChannel
    from reelflow.domain.ids import InvalidTitleId
    from reelflow.live.channels import create_channel

    settings = get_settings()
    try:
        heights = tuple(int(h) for h in rungs.split(",") if h.strip())
        config = ChannelConfig(name, heights, dvr_s, latency, False, reconnect_s)
        engine = engine_from_settings(settings)
        made = create_channel(settings, engine, channel_id, config)
    except ValueError as exc:
        if not isinstance(exc, InvalidChannel | InvalidTitleId | ChannelIdTaken):
            exc = InvalidChannel(f"rungs must be heights like 240,360 ({exc})")
        raise _fail(str(exc))
    except ConfigError as exc:
        raise _fail(str(exc))
    try:
        status = asyncio.run(_start_and_wait(settings, made.id, wait_s))
    except Exception as exc:
        delete_channel(engine, made.id)
        raise _fail(f"could not start the channel's workflow: {exc}", 1)
    doc = {**_status_doc(status), "stream_key": made.stream_key}
    if not doc["listening"]:
        raise _fail(f"channel {made.id} created but no live host listened within {wait_s:g} s "
                    "(is a `reelflow worker --queue live` running?)", 1)  # fmt: skip
    if as_json:
        typer.echo(json.dumps(doc))
        return
    typer.echo(
        f"channel {made.id} listening\nSRT:        {doc['srt_url']}\nstream key: {made.stream_key}"
    )
    err.print("[yellow]Store the stream key now: it is shown only this once.[/]")


async def _status(settings: Settings, channel_id: str) -> ChannelStatus:
    from reelflow.lifecycle.live_channels import channel_workflow_id
    from reelflow.workflows.live_channel import LiveChannelWorkflow

    client = await _client(settings)
    return await client.get_workflow_handle(channel_workflow_id(channel_id)).query(
        LiveChannelWorkflow.status
    )


@live_app.command("status")
def status(
    channel_id: Annotated[str, typer.Argument()],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The channel's state as its workflow knows it."""
    from temporalio.service import RPCError

    try:
        doc = _status_doc(asyncio.run(_status(get_settings(), channel_id)))
    except RPCError as exc:
        raise _fail(f"no running or recorded channel {channel_id!r}: {exc.message}")
    if as_json:
        typer.echo(json.dumps(doc))
    else:
        for k, v in doc.items():
            typer.echo(f"{k:<13} {v}")


async def _stop(settings: Settings, channel_id: str, wait_s: float) -> ChannelStatus:
    from reelflow.lifecycle.live_channels import STOP_CHANNEL, ChannelStatus, channel_workflow_id

    client = await _client(settings)
    handle = client.get_workflow_handle(channel_workflow_id(channel_id), result_type=ChannelStatus)
    await handle.signal(STOP_CHANNEL)
    return await asyncio.wait_for(handle.result(), wait_s)


@live_app.command("stop")
def stop(
    channel_id: Annotated[str, typer.Argument()],
    wait_s: Annotated[float, typer.Option("--wait")] = 60.0,
) -> None:
    """End the channel: the pipeline stops, the state becomes ended."""
    from temporalio.service import RPCError

    try:
        final = asyncio.run(_stop(get_settings(), channel_id, wait_s))
    except RPCError as exc:
        raise _fail(f"no running channel {channel_id!r}: {exc.message}")
    except TimeoutError:
        raise _fail(f"channel {channel_id!r} did not end within {wait_s:g} s", 1)
    typer.echo(json.dumps(_status_doc(final)))


@live_app.command("list")
def list_(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Every channel in the catalog with its settings (never its key)."""
    from reelflow.catalog import engine_from_settings
    from reelflow.catalog.live_channels import list_channels

    try:
        rows = list_channels(engine_from_settings(get_settings()))
    except ConfigError as exc:
        raise _fail(str(exc))
    docs = [{"id": r.id, "name": r.name, **r.config} for r in rows]
    if as_json:
        typer.echo(json.dumps(docs))
        return
    for d in docs:
        typer.echo(f"{d['id']:<24} {d['name']}")
