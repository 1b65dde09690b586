"""What ops see of a title's run: the live progress bar while it moves, and the status
table (stages, QC report, ladders, errors) from its ``status`` query."""

from __future__ import annotations

import asyncio

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from reelflow.cli.title_runs import find_run
from reelflow.config import Settings
from reelflow.lifecycle import contracts as c
from reelflow.lifecycle.progress import overall_percent

console = Console()
# Where following stops: the run waits on ops or on its window from here.
SETTLED_STATES = ("awaiting_approval", "published", "renditions_ready")


async def follow(
    settings: Settings, title_id: str, *, quiet: bool = False, version: int | None = None
) -> c.TitleStatus:
    """Poll the workflow's status query with a progress bar until it stops moving."""
    from temporalio.client import WorkflowExecutionStatus

    from reelflow.workflows.title import TitleWorkflow

    handle = await find_run(settings, title_id, version)
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
            if status.state in SETTLED_STATES:
                return status
            await asyncio.sleep(0.5)


def _ladder_lines(status: c.TitleStatus) -> list[str]:
    """One line per codec: a package with ladders beside H.264 lists each under its name."""
    by_codec: dict[str, list[str]] = {}
    for r in status.ladder:
        by_codec.setdefault(r.codec, []).append(f"{r.width}x{r.height}@{r.bitrate_kbps}k")
    lines = []
    for codec, rungs in by_codec.items():
        label = "ladder" if len(by_codec) == 1 else f"ladder ({codec})"
        lines.append(f"{label}: " + ", ".join(rungs))
    if by_codec:
        lines.append(f"quality metric: {status.ladder_metric or 'none (fixed ladder)'}")
    return lines


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
    for line in _ladder_lines(status):
        console.print(line)
    for e in status.errors:
        console.print(f"[red]error:[/] {e}")
