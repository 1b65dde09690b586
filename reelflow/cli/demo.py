"""The demo: a generated sample title through the lifecycle on the embedded stack."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from rich.console import Console

from reelflow.cli.title_input import CliError
from reelflow.cli.title_runs import start_title
from reelflow.cli.title_status import follow, render_status
from reelflow.config import Settings
from reelflow.domain.ids import workflow_id
from reelflow.lifecycle import contracts as c
from reelflow.media.samples import make_test_title
from reelflow.recs.demo_history import DemoTitle

console = Console()


def new_demo_id() -> str:
    return f"demo-{uuid.uuid4().hex[:6]}"


def generate_sample(path: Path, *, ffmpeg: str, seconds: int) -> Path:
    """720p picture with motion and a tone normalised to EBU R128's -23 LUFS (reused if there)."""
    if path.exists():
        return path
    return make_test_title(
        path,
        ffmpeg=ffmpeg,
        seconds=seconds,
        tone="frequency=330:beep_factor=4",
        audio_filter="loudnorm=I=-23:TP=-2:LRA=7",
        audio_bitrate="192k",
    )


def run_demo(settings: Settings, *, seconds: int = 20, shelf: bool = True) -> int:
    settings.ensure_home()
    sample = generate_sample(
        settings.home / "samples" / f"sample-{seconds}s.mp4",
        ffmpeg=settings.binary("ffmpeg"),
        seconds=seconds,
    )
    console.print(f"[bold]sample[/] {sample} ({seconds} s, 1280x720, AAC stereo)")
    title_id = new_demo_id()
    inp = c.TitleInput(
        title_id=title_id,
        source=str(sample),
        name="reelflow sample",
        synopsis="A generated test pattern with a tone, made by ffmpeg's lavfi sources.",
        genres=["demo"],
    )

    async def go() -> c.TitleStatus:
        wf = await start_title(settings, inp)
        console.print(f"[bold]ingest[/] started workflow {wf}")
        return await follow(settings, title_id)

    try:
        status = asyncio.run(go())
    except CliError as exc:
        console.print(f"[red]{exc}[/]")
        return 2
    render_status(status)
    ui = (
        f"{settings.temporal_ui_url}/namespaces/{settings.temporal_namespace}"
        f"/workflows/{workflow_id(title_id, inp.version)}"
    )
    console.print(f"[bold]Temporal UI[/] {ui}")
    if status.state == "published":
        if shelf:
            from reelflow.cli.demo_catalog import set_the_shelf

            set_the_shelf(settings, DemoTitle(title_id, tuple(inp.genres), float(seconds)))
        print_how_to_play(settings, title_id, inp.version)
        return 0
    console.print(f"[red]demo title ended in state {status.state}[/]")
    return 1


def print_how_to_play(settings: Settings, title_id: str, version: int) -> None:
    """Where the published package is, and how to play it in the web player or by curl."""
    from reelflow.catalog import engine_from_settings
    from reelflow.catalog import packages as q

    pkg = q.get_package(engine_from_settings(settings), title_id, version)
    if pkg is not None:
        console.print(
            f"[bold]Published[/] {', '.join(pkg.drm_systems) or 'clear'} package at "
            f"{settings.resolved_store_root / pkg.origin_prefix}\n"
            f"  DASH {pkg.mpd_key}\n  HLS  {pkg.hls_key}"
        )
    base = settings.resolved_public_base_url
    console.print(
        f"[bold green]Play it:[/] {base}/#/title/{title_id}  "
        "(web player; pick a dev account to sign in)\n"
        f"  API guide: docs/api.md, OpenAPI: {base}/docs\n"
        f"  TOKEN=$(.venv/bin/reelflow dev token --plan premium --country US)\n"
        f'  curl -s -H "Authorization: Bearer $TOKEN" -X POST '
        f"-H 'Content-Type: application/json' -d '{{\"device_id\": \"cli\"}}' "
        f"{base}/v1/titles/{title_id}/playback\n"
        f"Home rows: {base}/#/ (Top picks and Because you watched follow what you watch; "
        "`reelflow recs models` lists the trained models)\n"
        "Admin console (experiments, QoE): .venv/bin/reelflow dev token --admin --console-url\n"
        f"Take it down with: reelflow titles takedown {title_id}",
        soft_wrap=True,  # URLs and the curl line must stay copyable in a narrow terminal
    )
