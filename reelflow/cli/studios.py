"""`reelflow studios ...`: studio partners, their API keys and webhook signing secrets."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import Engine

from reelflow.config import ConfigError, get_settings

studios_app = typer.Typer(
    no_args_is_help=True, help="studio partners: API keys and webhook secrets for signed ingest"
)
console = Console()
err = Console(stderr=True)

# reelflow keeps only a hash of the API key and no command ever shows a secret again.
_SHOWN_ONCE = "Store this now: it is shown only this once and cannot be displayed again."


def _engine() -> Engine:
    from reelflow.catalog import engine_from_settings
    from reelflow.catalog.db import SchemaBehind

    try:
        return engine_from_settings(get_settings())
    except (SchemaBehind, ConfigError) as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(2)


def _fail(message: str) -> typer.Exit:
    err.print(f"[red]{message}[/]")
    return typer.Exit(2)


@studios_app.command("add")
def add(
    studio_id: Annotated[str, typer.Argument(help="a-z 0-9 _ -, at most 64")],
    name: Annotated[str, typer.Option("--name", help="display name")],
) -> None:
    """Register a studio; prints its API key and webhook secret once."""
    from reelflow.studios.accounts import StudioError, create_studio

    engine = _engine()
    try:
        creds = create_studio(get_settings(), engine, studio_id, name)
    except (StudioError, ConfigError) as exc:
        raise _fail(str(exc))
    console.print(f"studio [bold]{creds.studio_id}[/] ({creds.name}) registered")
    # Plain echo, not rich: the values must come out exactly, with no wrapping or markup.
    typer.echo(f"api key:        {creds.api_key}")
    typer.echo(f"webhook secret: {creds.webhook_secret}")
    err.print(f"[yellow]{_SHOWN_ONCE}[/]")


@studios_app.command("list")
def list_cmd() -> None:
    """Studios and whether their keys are accepted (no secrets are shown)."""
    from reelflow.studios.accounts import list_studios

    rows = list_studios(_engine())
    if not rows:
        console.print("no studios; add one with `reelflow studios add <id> --name <name>`")
        return
    table = Table(title="studios")
    for column in ("id", "name", "status", "master key", "created"):
        table.add_column(column)
    for s in rows:
        table.add_row(
            s.id,
            s.name,
            "[red]disabled[/]" if s.disabled else "[green]active[/]",
            f"v{s.key_version}",
            s.created_at.isoformat(timespec="seconds"),
        )
    console.print(table)


@studios_app.command("rotate-secret")
def rotate_secret(
    studio_id: str,
    grace_hours: Annotated[
        float,
        typer.Option(
            min=0,
            max=30 * 24,
            help="how long the old secret keeps verifying (0: refuse it at once)",
        ),
    ] = 24,
) -> None:
    """Replace a studio's webhook secret; prints the new one once."""
    from reelflow.studios.accounts import (
        StudioError,
        WebhookSecretUnsealError,
        rotate_webhook_secret,
    )

    engine = _engine()
    try:
        secret = rotate_webhook_secret(
            get_settings(), engine, studio_id, grace_s=int(grace_hours * 3600)
        )
    except (StudioError, WebhookSecretUnsealError, ConfigError) as exc:
        raise _fail(str(exc))
    typer.echo(f"webhook secret: {secret}")
    if grace_hours:
        console.print(f"the previous secret stays valid for {grace_hours:g} h")
    else:
        console.print("the previous secret no longer verifies")
    err.print(f"[yellow]{_SHOWN_ONCE}[/]")


@studios_app.command("disable")
def disable(studio_id: str) -> None:
    """Refuse the studio's API key from now on (its titles stay as they are)."""
    from reelflow.studios.accounts import StudioError, disable_studio

    try:
        changed = disable_studio(_engine(), studio_id)
    except StudioError as exc:
        raise _fail(str(exc))
    console.print(
        f"studio {studio_id} disabled" if changed else f"studio {studio_id} was already disabled"
    )
