"""`reelflow studios ...`: studio partners, their API keys and webhook signing secrets."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import Engine

from reelflow.config import ConfigError, get_settings

if TYPE_CHECKING:
    from reelflow.studios.accounts import StudioInfo

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
    quotas = Table(title="quotas (* = the REELFLOW_STUDIO_* default)")
    for column in ("id", "ingests/min", "ingests/h", "largest upload"):
        quotas.add_column(column)
    for s in rows:
        table.add_row(
            s.id,
            s.name,
            "[red]disabled[/]" if s.disabled else "[green]active[/]",
            f"v{s.key_version}",
            s.created_at.isoformat(timespec="seconds"),
        )
        quotas.add_row(s.id, *_quota_cells(s, human=True))
    console.print(table)
    console.print(quotas)


def _quota_cells(info: StudioInfo, *, human: bool = False) -> list[str]:
    """Each quota, the studio's own or the default marked ``*``; sizes exact unless human."""
    settings = get_settings()

    def cell(own: int | None, default: int, size: bool = False) -> str:
        value = own if own is not None else default
        shown = _size(value) if size and human else str(value)
        return shown if own is not None else f"{shown}*"

    return [
        cell(info.ingests_per_minute, settings.studio_ingests_per_minute),
        cell(info.ingests_per_hour, settings.studio_ingests_per_hour),
        cell(info.max_upload_bytes, settings.studio_upload_max_bytes, size=True),
    ]


def _size(n: int) -> str:
    for unit, factor in (("TiB", 1024**4), ("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if n >= factor and n % factor == 0:
            return f"{n // factor} {unit}"
    return f"{n} B"


_QUOTA_HELP = "a number >= 1; 0: back to the REELFLOW_STUDIO_* default"


@studios_app.command("quota")
def quota(
    studio_id: str,
    ingests_per_minute: Annotated[
        int | None, typer.Option(min=0, help=f"webhook ingests per minute: {_QUOTA_HELP}")
    ] = None,
    ingests_per_hour: Annotated[
        int | None, typer.Option(min=0, help=f"webhook ingests per hour: {_QUOTA_HELP}")
    ] = None,
    max_upload_bytes: Annotated[
        int | None, typer.Option(min=0, help=f"largest upload in bytes: {_QUOTA_HELP}")
    ] = None,
) -> None:
    """Show a studio's quotas, or set its own (over quota: 429 for ingests, and the store
    refuses a larger upload)."""
    from reelflow.studios.accounts import StudioError, set_quotas

    given = {
        "ingests_per_minute": ingests_per_minute,
        "ingests_per_hour": ingests_per_hour,
        "max_upload_bytes": max_upload_bytes,
    }
    changes = {name: value or None for name, value in given.items() if value is not None}
    try:
        info = set_quotas(_engine(), studio_id, changes)
    except StudioError as exc:
        raise _fail(str(exc))
    minute, hour, upload = _quota_cells(info)
    # Plain echo: scripts read these lines.
    typer.echo(f"ingests per minute: {minute}")
    typer.echo(f"ingests per hour:   {hour}")
    typer.echo(f"upload max bytes:   {upload}")


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
