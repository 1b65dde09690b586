"""`reelflow recs models | rollback | train`: the production model versions in the object
store (their metrics, which one serves), rolling back, and training now (Temporal)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from reelflow.config import Settings, get_settings

if TYPE_CHECKING:  # numpy and scipy load only when a command runs
    from reelflow.recs.model_store import ModelStore

err = Console(stderr=True)
TRAIN_WAIT_S = 3600.0


async def training_now(settings: Settings) -> dict[str, Any]:
    """Run one training now (the workflow the schedule starts) and return its summary."""
    from reelflow.lifecycle.recs_training import TrainingRequest
    from reelflow.workflows.client import connect
    from reelflow.workflows.recs_training import RecsTrainingWorkflow

    client = await connect(settings)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    summary = await client.execute_workflow(
        RecsTrainingWorkflow.run,
        TrainingRequest(),
        id=f"recs-training-cli-{stamp}",
        task_queue=settings.control_queue,
    )
    return asdict(summary)


def _models() -> ModelStore:
    from reelflow.recs.model_store import ModelStore
    from reelflow.storage import store_from_settings

    return ModelStore(store_from_settings(get_settings()))


def models(
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object")] = False,
) -> None:
    """Every trained version, oldest first: nDCG@10 on its holdout; it and the model serving
    then on the same plays (those newer than that model's training); sizes; the serving one
    marked."""
    store = _models()
    versions = store.versions()
    pointer = store.pointer()
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "serving": asdict(pointer) if pointer else None,
                    "versions": [asdict(v) for v in versions],
                }
            )
        )
        return
    if not versions:
        typer.echo("no trained model yet: the training schedule makes one (reelflow recs train)")
        return
    table = Table(
        "version", "serving", "nDCG@10", "vs serving, same plays", "viewers", "titles", "plays"
    )
    for v in versions:
        m = v.metrics
        compared = m.get("serving_ndcg_at_10")
        versus = (
            f"{m.get('compared_ndcg_at_10', 0):.4f} vs {compared:.4f} (v{m.get('compared_with')})"
            if compared is not None
            else ""
        )
        table.add_row(
            f"v{v.version}",
            "*" if v.serving else "",
            f"{m.get('ndcg_at_10', 0):.4f}",
            versus,
            str(m.get("viewers", "")),
            str(m.get("items", "")),
            str(m.get("interactions", "")),
        )
    Console().print(table)


def rollback(version: Annotated[int, typer.Argument(help="the version to serve, e.g. 3")]) -> None:
    """Serve an earlier version again (API processes pick it up within
    REELFLOW_RECS_MODEL_POLL_S)."""
    from reelflow.recs.artifact import ArtifactError
    from reelflow.recs.model_store import UnknownModelVersion

    store = _models()
    try:
        store.load(version)  # a version whose files do not load must not serve
        pointer = store.rollback(version)
    except (UnknownModelVersion, ArtifactError, ValueError) as exc:
        err.print(f"[red]{exc}[/]", highlight=False)
        raise typer.Exit(2)
    typer.echo(f"serving v{pointer.version} (was v{pointer.previous})")


def train(
    wait: Annotated[
        bool, typer.Option("--wait", help="run a training now and wait for its summary")
    ] = False,
) -> None:
    """Trigger the training schedule (a control worker runs it), or with --wait start a run
    now and print its summary as JSON."""
    from reelflow.workflows.client import TemporalUnavailable, connect

    settings = get_settings()

    async def go() -> str | None:
        if not wait:
            from reelflow.workflows.recs_training_schedule import trigger_training

            await trigger_training(await connect(settings), settings)
            return None
        return json.dumps(await training_now(settings))

    try:
        out = asyncio.run(asyncio.wait_for(go(), TRAIN_WAIT_S))
    except TemporalUnavailable as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(2)
    except Exception as exc:  # no schedule yet, a failed run: say which, exit 1
        err.print(f"[red]training did not run: {exc}[/]", highlight=False)
        raise typer.Exit(1)
    typer.echo(
        out if out is not None else "training triggered (the schedule's overlap rule applies)"
    )
