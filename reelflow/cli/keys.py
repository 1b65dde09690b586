"""`reelflow keys ...`: master-key rotation and CPIX export."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from reelflow.config import ConfigError, get_settings, rotate_generated_master_key

keys_app = typer.Typer(no_args_is_help=True, help="content keys")
console = Console()
err = Console(stderr=True)


@keys_app.command("rotate-master")
def rotate_master_cmd(
    generate: Annotated[
        bool,
        typer.Option(
            "--generate", help="embedded mode: make a new master key first (old one retired)"
        ),
    ] = False,
) -> None:
    """Reseal every content key under the current master key."""
    from reelflow.catalog import engine_from_settings
    from reelflow.cli.keys_admin import KeyAdminError, rotate_master

    settings = get_settings()
    try:
        if generate:
            version = rotate_generated_master_key(settings)
            console.print(f"new master key version {version} written to {settings.home}")
        result = rotate_master(settings, engine_from_settings(settings))
    except (ConfigError, KeyAdminError) as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(2)
    console.print(
        f"master key version {result.version}: resealed {result.resealed} content key(s), "
        f"{result.already_current} already current, {result.bound} bound to their place"
    )


@keys_app.command("bind")
def bind_cmd() -> None:
    """Reseal the content keys sealed before keys were bound to their title, version and
    class (same master key); `rotate-master` does it too."""
    from reelflow.catalog import engine_from_settings
    from reelflow.cli.keys_admin import KeyAdminError, bind_places

    settings = get_settings()
    try:
        bound = bind_places(settings, engine_from_settings(settings))
    except (ConfigError, KeyAdminError) as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(2)
    console.print(f"bound {bound} content key(s) to their title, version and class")


@keys_app.command("export-cpix")
def export_cpix_cmd(
    title_id: str,
    recipient_cert: Annotated[Path, typer.Option("--recipient-cert", help="PEM certificate")],
    out: Annotated[Path, typer.Option("--out", "-o", help="output file")],
    version: Annotated[int | None, typer.Option(help="title version (default newest)")] = None,
) -> None:
    """Write a DASH-IF CPIX document with the title's keys encrypted to a recipient."""
    from reelflow.catalog import engine_from_settings
    from reelflow.cli.keys_admin import KeyAdminError, export_cpix

    settings = get_settings()
    if not recipient_cert.is_file():
        err.print(f"[red]no such certificate file: {recipient_cert}[/]")
        raise typer.Exit(2)
    try:
        doc = export_cpix(
            settings,
            engine_from_settings(settings),
            title_id,
            recipient_cert.read_bytes(),
            version,
        )
    except (KeyAdminError, ValueError) as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(2)
    out.write_bytes(doc)
    console.print(f"wrote {out} ({len(doc)} bytes)")
