"""`reelflow events ...` and `reelflow accounts ...`: the viewer event log and a viewer's
rights over it (export, erasure)."""

from __future__ import annotations

import json
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from reelflow.cli.events_schedule import schedule_app
from reelflow.config import ConfigError, get_settings

events_app = typer.Typer(no_args_is_help=True, help="the viewer event log: writer, stats, upkeep")
accounts_app = typer.Typer(
    no_args_is_help=True, help="a viewer's events: export, erasure and analytics consent"
)
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
    import logging

    # Its outages, recoveries and claims of a dead writer's batch, one line each on stderr.
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
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


@events_app.command("import-qoe-beacons")
def import_qoe_beacons() -> None:
    """Move the catalog's QoE beacon rows into the event log, once: each batch's rows are
    deleted when its files are written, so a rerun imports nothing new. Then `reelflow db
    upgrade` retires the table (it refuses while rows are left). Prints a JSON summary."""
    from sqlalchemy.exc import SQLAlchemyError

    from reelflow.catalog.db import make_engine
    from reelflow.events.beacon_import import BeaconImport
    from reelflow.storage.base import StorageError

    settings, events = get_settings(), _events()
    # No schema check: it runs on a catalog that 0006 has not reached yet, by design.
    engine = make_engine(settings.resolved_database_url)
    run = BeaconImport(
        engine, events.store, events.files, events.key, settings.analytics_consent_default
    )
    try:
        result = run.run()
    except (SQLAlchemyError, StorageError) as exc:
        # The type only: a driver's message may quote the connection.
        what = type(exc).__name__
        err.print(f"[red]import stopped ({what}); run it again: nothing is counted twice[/]")
        raise typer.Exit(1) from None
    finally:
        engine.dispose()
    typer.echo(json.dumps(result.summary()))
    if result.invalid:
        shown = ", ".join(str(i) for i in result.invalid[:20])
        err.print(
            f"[red]{len(result.invalid)} row(s) are no valid qoe event and stay in "
            f"qoe_beacons (ids {shown}); fix or delete them, then run this again[/]"
        )
        raise typer.Exit(1)


@events_app.command("qoe")
def qoe(
    hours: Annotated[int, typer.Option(min=1, max=24 * 90, help="the last N hours")] = 24,
) -> None:
    """Start-up p50/p95 and rebuffer ratio by title x country x plan x hour, as JSON lines
    (settled hours from their kept cells, the others from the raw events)."""
    from reelflow.events.aggregates import qoe_console_cells

    until = datetime.now(UTC)
    cells = qoe_console_cells(_events().files, until - timedelta(hours=hours), until)
    for row in cells.to_pylist():
        typer.echo(json.dumps(row, default=str))


@events_app.command("ads")
def ads(
    hours: Annotated[int, typer.Option(min=1, max=24 * 90, help="the last N hours")] = 24,
) -> None:
    """Ad delivery per ad and day: impressions, viewers, quartiles, completion (JSON lines)."""
    from reelflow.events.ad_queries import ad_delivery

    until = datetime.now(UTC)
    for row in ad_delivery(_events().files, until - timedelta(hours=hours), until):
        typer.echo(json.dumps({**row.__dict__, "completion": row.completion}, default=str))


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


def _account(account: str) -> str:
    from reelflow.events.privacy import ACCOUNT_PATTERN, ACCOUNT_RULE

    if re.fullmatch(ACCOUNT_PATTERN, account) is None:
        err.print(f"[red]not an account: {ACCOUNT_RULE}[/]")
        raise typer.Exit(2)
    return account


def _catalog() -> Any:
    from sqlalchemy.exc import SQLAlchemyError

    from reelflow.catalog import engine_from_settings
    from reelflow.catalog.db import SchemaBehind

    try:
        return engine_from_settings(get_settings())
    except (ConfigError, SchemaBehind) as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(2)
    except SQLAlchemyError as exc:
        # The type only: a driver's message may quote the connection.
        err.print(f"[red]the catalog is not reachable ({type(exc).__name__}): nothing done[/]")
        raise typer.Exit(1) from None


@accounts_app.command("erase")
def erase(account: Annotated[str, typer.Argument(help="the account (the token's sub)")]) -> None:
    """Erase the viewer's events from the log and every event file, recorded in the audit
    log (actor "cli"); exits 1 if the erasure failed (the audit row says why)."""
    from rich.markup import escape
    from sqlalchemy.exc import SQLAlchemyError

    from reelflow.events.service import ErasureFailed
    from reelflow.recs.rows_cache import ROWS_PREFIX as RECS_ROWS_PREFIX

    account = _account(account)
    try:
        row = _events().erase(
            account, actor="cli", catalog=_catalog(), derived_prefixes=(RECS_ROWS_PREFIX,)
        )
    except ErasureFailed as failed:
        err.print(f"[red]{escape(str(failed))}[/]; run it again")
        raise typer.Exit(1)
    except SQLAlchemyError as exc:
        err.print(f"[red]the catalog is not reachable, nothing erased: {type(exc).__name__}[/]")
        raise typer.Exit(1)
    counts = {"stream_entries": row.stream_entries, "files_rewritten": row.files_rewritten}
    typer.echo(json.dumps({"account_erased": True, **counts, "rows": row.rows, "audit": row.id}))


@accounts_app.command("consent")
def consent(
    account: Annotated[str, typer.Argument(help="the account (the token's sub)")],
    choice: Annotated[
        bool | None, typer.Option("--on/--off", help="set it; neither: show it", show_default=False)
    ] = None,
) -> None:
    """Show or set the account's analytics consent (it applies from its next event batch)."""
    import asyncio

    from redis.asyncio import Redis
    from redis.exceptions import RedisError
    from sqlalchemy.exc import SQLAlchemyError

    from reelflow.catalog.viewer_privacy import consent_choice
    from reelflow.events.consent import Consent, write_consent

    account, engine, settings = _account(account), _catalog(), get_settings()
    default = settings.analytics_consent_default

    async def write(value: bool) -> Consent:
        redis = Redis.from_url(settings.redis_url, socket_timeout=5, socket_connect_timeout=2)
        try:
            return await write_consent(redis, engine, account, value, default)
        finally:
            await redis.aclose()

    try:
        now = (
            Consent.of(consent_choice(engine, account), default)
            if choice is None
            else asyncio.run(write(choice))
        )
    except (RedisError, SQLAlchemyError) as exc:
        # Redis first, then the catalog, then Redis: a rerun finishes what a failure left.
        err.print(
            f"[red]Redis or the catalog is not reachable ({type(exc).__name__}): run it again[/]"
        )
        raise typer.Exit(1)
    out = {"account": account, "analytics_consent": now.analytics, "is_default": now.is_default}
    typer.echo(json.dumps(out))
