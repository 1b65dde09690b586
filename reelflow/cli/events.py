"""`reelflow events ...` and `reelflow accounts ...`: the viewer event log and a viewer's
rights over it (export, erasure)."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from reelflow.cli.events_schedule import schedule_app
from reelflow.config import ConfigError, get_settings

events_app = typer.Typer(no_args_is_help=True, help="the viewer event log: writer, stats, upkeep")
accounts_app = typer.Typer(no_args_is_help=True, help="a viewer's events: export and erasure")
events_app.add_typer(schedule_app, name="schedule")
err = Console(stderr=True)


def _events() -> Any:
    import redis

    from reelflow.events.service import Events

    try:
        return Events.from_settings(get_settings())
    except (ConfigError, redis.RedisError, OSError) as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(2)


def _print(data: dict[str, int], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(data))
    else:
        for key, value in data.items():
            typer.echo(f"{key}: {value}")


@events_app.command("stats")
def stats(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Distinct events per type and the backlog not yet written (zeros on an empty store)."""
    _print(_events().stats(), as_json)


@events_app.command("writer")
def writer() -> None:
    """Run the events writer (stream -> Parquet) until SIGTERM."""
    counts = _events().run_writer()
    err.print(f"events writer stopped: {counts.events} events in {counts.files} files")


@events_app.command("compact")
def compact(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """One upkeep run now, as the hourly schedule's: compact every finished hour (writing
    its kept QoE aggregate first), then drop raw partitions past retention."""
    from reelflow.events.retention import retention_from_settings

    try:
        retention = retention_from_settings(get_settings())
    except ConfigError as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(2)
    _print(_events().compact(retention), as_json)


@events_app.command("qoe")
def qoe(
    hours: Annotated[int, typer.Option(min=1, max=24 * 90, help="the last N hours")] = 24,
) -> None:
    """Start-up p50/p95 and rebuffer ratio by title x country x plan x hour, as JSON lines."""
    from reelflow.events.queries import qoe_cells

    until = datetime.now(UTC)
    for cell in qoe_cells(_events().files, until - timedelta(hours=hours), until):
        typer.echo(json.dumps(cell.__dict__, default=str))


@events_app.command("qoe-hourly")
def qoe_hourly(
    hours: Annotated[
        int, typer.Option(min=1, max=24 * 366 * 10, help="the last N finished hours")
    ] = 24,
) -> None:
    """The kept hourly QoE cells (they outlive the raw events' retention), as JSON lines."""
    from reelflow.events.aggregates import qoe_hourly as kept_cells
    from reelflow.events.aggregates import utc_hour

    until = utc_hour(datetime.now(UTC))
    for row in kept_cells(_events().files, until - timedelta(hours=hours), until).to_pylist():
        typer.echo(json.dumps(row, default=str))


@accounts_app.command("export")
def export(
    account: Annotated[str, typer.Argument(help="the account (the token's sub)")],
    out: Annotated[Path | None, typer.Option("--out", help="write here, not stdout")] = None,
) -> None:
    """A viewer's events as JSON Lines, oldest first."""
    rows = _events().export(account)
    lines = "".join(json.dumps(row, default=str) + "\n" for row in rows)
    if out is None:
        sys.stdout.write(lines)
    else:
        out.write_text(lines)
        err.print(f"{len(rows)} events written to {out}")


@accounts_app.command("history")
def history(account: Annotated[str, typer.Argument()]) -> None:
    """What the viewer watched, newest first, with the last position (JSON lines)."""
    for watched in _events().history(account):
        typer.echo(json.dumps(watched.__dict__, default=str))


@accounts_app.command("erase")
def erase(account: Annotated[str, typer.Argument()]) -> None:
    """Erase the viewer's events from the log and every event file."""
    summary = _events().erase(account)
    typer.echo(json.dumps({"account_erased": True, **summary}))
