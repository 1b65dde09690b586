"""`reelflow` command line: doctor, api, worker, db, titles, keys, studios, dev, events,
accounts, experiments, recs."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from reelflow.cli.dev import dev_app
from reelflow.cli.events import accounts_app, events_app
from reelflow.cli.experiments import experiments_app
from reelflow.cli.keys import keys_app
from reelflow.cli.live import live_app
from reelflow.cli.recs import recs_app
from reelflow.cli.studios import studios_app
from reelflow.cli.titles import titles_app
from reelflow.config import ConfigError, get_settings

app = typer.Typer(no_args_is_help=True, add_completion=False, help="reelflow operations CLI")
db_app = typer.Typer(no_args_is_help=True, help="catalog database")
app.add_typer(db_app, name="db")
app.add_typer(titles_app, name="titles")
app.add_typer(keys_app, name="keys")
app.add_typer(dev_app, name="dev")
app.add_typer(studios_app, name="studios")
app.add_typer(events_app, name="events")
app.add_typer(accounts_app, name="accounts")
app.add_typer(experiments_app, name="experiments")
app.add_typer(recs_app, name="recs")
app.add_typer(live_app, name="live")
console = Console()
err = Console(stderr=True)


def _exit(code: int) -> None:
    # The Temporal SDK's runtime can abort at interpreter exit (sdk-python issue 300):
    # flush and leave without running finalizers.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


@app.command()
def doctor(
    no_services: Annotated[
        bool, typer.Option("--no-services", help="only check binaries and settings")
    ] = False,
) -> None:
    """Check every binary, service and setting; exit non-zero if a required one is missing."""
    from reelflow.cli.doctor import run_doctor

    checks = run_doctor(get_settings(), services=not no_services)
    table = Table(title="reelflow doctor")
    table.add_column("check")
    table.add_column("status")
    table.add_column("detail / fix", overflow="fold")
    for c in checks:
        status = (
            "[green]present[/]"
            if c.ok
            else ("[red]MISSING[/]" if c.required else "[yellow]absent[/]")
        )
        table.add_row(c.name, status, c.detail)
    console.print(table)
    missing = [c.name for c in checks if c.required and not c.ok]
    if missing:
        err.print(f"[red]missing required: {', '.join(missing)}[/]")
    _exit(1 if missing else 0)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply catalog migrations up to the newest revision."""
    from reelflow.catalog.db import (
        MigrationRefused,
        current_revision,
        head_revision,
        make_engine,
        upgrade,
    )

    settings = get_settings()
    settings.ensure_home()
    url = settings.resolved_database_url
    try:
        upgrade(url)
    except MigrationRefused as exc:
        # e.g. 0006 with QoE beacon rows left: the message names the command to run first.
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from None
    console.print(f"catalog at {current_revision(make_engine(url))} (head {head_revision()})")


@app.command()
def api(
    host: Annotated[str | None, typer.Option(help="bind address")] = None,
    port: Annotated[int | None, typer.Option(help="port")] = None,
) -> None:
    """Run the playback API (uvicorn)."""
    import uvicorn

    from reelflow.catalog.db import SchemaBehind
    from reelflow.playback_api.http.app import create_app
    from reelflow.playback_api.http.observability import configure_json_logging

    configure_json_logging()
    settings = get_settings()
    # The bind checks (embedded mode only on loopback) must see the address really bound.
    overrides = {k: v for k, v in (("api_host", host), ("api_port", port)) if v is not None}
    if overrides:
        settings = settings.model_copy(update=overrides)
    try:
        application = create_app(settings)
    except (SchemaBehind, ConfigError) as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(2)
    uvicorn.run(
        application,
        host=settings.api_host,
        port=settings.api_port,
        log_level="info",
        access_log=False,
    )


@app.command()
def worker(
    queue: Annotated[
        list[str] | None,
        typer.Option(
            "--queue",
            "-q",
            help="task queue(s): control, media, live, rq (default: control, media)",
        ),
    ] = None,
) -> None:
    """Run workers: Temporal workers for the control, media and live task queues, or the rq
    worker."""
    from reelflow.workers.main import run_workers

    try:
        run_workers(get_settings(), queues=queue or ["control", "media"])
    except (ConfigError, ValueError) as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(2)


@app.command()
def demo(
    seconds: Annotated[int, typer.Option(help="length of the generated sample")] = 20,
    shelf: Annotated[
        bool,
        typer.Option(
            help="also publish a shelf of short titles, simulated viewers' history, a first "
            "recommendation model and the home-recs experiment (hybrid against popularity)"
        ),
    ] = True,
) -> None:
    """Generate a sample title with ffmpeg, ingest it and follow it through the lifecycle."""
    from reelflow.cli.demo import run_demo

    _exit(run_demo(get_settings(), seconds=seconds, shelf=shelf))


def main() -> None:
    # Standalone mode: Typer shows usage errors (with its own bundled click, whose exception
    # types are not click's) and ends every run with SystemExit, whose code we pass on.
    try:
        app()
    except SystemExit as exc:
        _exit(exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1))
    _exit(0)


if __name__ == "__main__":
    main()
