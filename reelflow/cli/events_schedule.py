"""`reelflow events schedule ...`: the hourly events upkeep schedule in Temporal (a control
worker creates it when it starts), shown or triggered."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any, TypeVar

import typer
from rich.console import Console

from reelflow.config import Settings, get_settings

schedule_app = typer.Typer(no_args_is_help=True, help="the hourly events upkeep (Temporal)")
err = Console(stderr=True)
T = TypeVar("T")


def _with_client(use: Callable[[Any, Settings], Awaitable[T]]) -> T:
    """Run ``use(client, settings)``; Temporal unreachable or no schedule: a message, exit 2
    or 1."""
    from temporalio.service import RPCError, RPCStatusCode

    from reelflow.workflows.client import TemporalUnavailable, connect
    from reelflow.workflows.events_upkeep_schedule import upkeep_schedule_id

    settings = get_settings()

    async def go() -> T:
        return await use(await connect(settings), settings)

    try:
        return asyncio.run(go())
    except TemporalUnavailable as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(2)
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise
        err.print(
            f"[red]no schedule {upkeep_schedule_id(settings)}: a control worker creates it "
            "when it starts (reelflow worker --queue control)[/]"
        )
        raise typer.Exit(1)


@schedule_app.command("show")
def show() -> None:
    """The schedule as Temporal has it (JSON): timing, overlap policy, paused, next and
    recent runs."""
    from reelflow.workflows.events_upkeep_schedule import describe_upkeep_schedule

    view = _with_client(describe_upkeep_schedule)
    typer.echo(json.dumps(asdict(view), default=str))


@schedule_app.command("trigger")
def trigger() -> None:
    """Start an upkeep run now (skipped while one is running, as the hourly ones are)."""
    from reelflow.workflows.events_upkeep_schedule import trigger_upkeep, upkeep_schedule_id

    _with_client(trigger_upkeep)
    typer.echo(json.dumps({"triggered": upkeep_schedule_id(get_settings())}))
