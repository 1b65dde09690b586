"""`reelflow recs ...`: train reelflow's recommender on a file and recommend, or compare
every model offline on a file and a split (docs/recommendations.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from reelflow.cli.recs_models import models, rollback, train

recs_app = typer.Typer(
    no_args_is_help=True, help="recommendations: train on a file, recommend, evaluate"
)
recs_app.command("models")(models)
recs_app.command("rollback")(rollback)
recs_app.command("train")(train)
if TYPE_CHECKING:  # numpy, scipy and implicit load only when a recs command runs
    from reelflow.recs.evaluation import Result
    from reelflow.recs.interactions import Dataset

err = Console(stderr=True)
MAX_K = 1000

TrainOption = Annotated[
    Path,
    typer.Option(
        "--train", help="CSV user_id,item_id,timestamp[,weight] (Unix seconds, weight >= 0)"
    ),
]
ItemsOption = Annotated[
    Path | None,
    typer.Option("--items", help="CSV item_id,title,genres,year: cold-start candidates too"),
]
KOption = Annotated[int, typer.Option("--k", min=1, max=MAX_K, help="items per user")]


def _refuse(exc: Exception) -> typer.Exit:
    err.print(f"[red]{exc}[/]", highlight=False)
    return typer.Exit(2)


def _load(train: Path, items: Path | None) -> Dataset:
    from reelflow.recs.csv_input import InputError, load_dataset

    try:
        return load_dataset(train, items)
    except InputError as exc:
        raise _refuse(exc)


@recs_app.command("recommend")
def recommend(
    train: TrainOption,
    users: Annotated[Path, typer.Option("--users", help="user ids, one per line")],
    items: ItemsOption = None,
    k: KOption = 10,
    as_json: Annotated[bool, typer.Option("--json", help='{"<user>": ["<item>", ...]}')] = False,
) -> None:
    """Train the production model (default settings) and print each user's top-k unseen
    items; a user the file does not know gets what is trending."""
    from reelflow.recs.csv_input import InputError, read_user_ids
    from reelflow.recs.hybrid import Hybrid
    from reelflow.recs.recommender import recommend_ids

    try:
        wanted = read_user_ids(users)
    except InputError as exc:
        raise _refuse(exc)
    data = _load(train, items)
    model = Hybrid()
    model.fit(data)
    chosen = recommend_ids(model, data, wanted, k)
    if as_json:
        typer.echo(json.dumps(chosen))
        return
    for user, ranked in chosen.items():
        typer.echo(f"{user}\t{' '.join(ranked)}")


def _table(results: list[Result], title: str, k: int) -> Table:
    table = Table(title=title)
    for column in (
        "model",
        f"nDCG@{k}",
        f"MAP@{k}",
        f"P@{k}",
        f"R@{k}",
        "coverage",
        "novelty",
        "fit s",
    ):
        table.add_column(column, justify="left" if column == "model" else "right")
    for result in results:
        m = result.metrics
        table.add_row(
            result.name,
            *(f"{v:.4f}" for v in (m.ndcg, m.map, m.precision, m.recall, m.coverage)),
            f"{m.novelty:.2f}",
            f"{result.fit_seconds:.1f}",
        )
    return table


@recs_app.command("evaluate")
def evaluate(
    train: TrainOption,
    items: ItemsOption = None,
    split_kind: Annotated[
        str, typer.Option("--split", help="time: each user's newest held out; random")
    ] = "time",
    test_fraction: Annotated[float, typer.Option("--test-fraction", min=0.01, max=0.99)] = 0.2,
    k: KOption = 10,
    models: Annotated[
        str, typer.Option("--models", help="comma-separated names (default: all)")
    ] = "",
    seed: Annotated[int, typer.Option("--seed", help="for --split random")] = 0,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Fit every model on the training part of the file and print the metrics table."""
    from reelflow.recs.evaluation import compare
    from reelflow.recs.registry import MODELS, make
    from reelflow.recs.split import SplitKind, split

    if split_kind not in ("time", "random"):
        raise _refuse(ValueError(f"--split must be time or random, not {split_kind!r}"))
    kind: SplitKind = "time" if split_kind == "time" else "random"
    names = [n.strip() for n in models.split(",") if n.strip()] or list(MODELS)
    try:
        chosen = [make(name, kind) for name in names]
    except ValueError as exc:
        raise _refuse(exc)
    data = _load(train, items)
    train_part, test_part = split(data, kind, test_fraction, seed)
    results = compare(chosen, train_part, test_part, k)
    if as_json:
        typer.echo(json.dumps(_report(results, split_kind, test_fraction, k)))
        return
    title = f"{split_kind} split, {test_fraction:g} held out per user, k = {k}"
    Console().print(_table(results, title, k))


def _report(results: list[Result], split_kind: str, fraction: float, k: int) -> dict[str, object]:
    return {
        "split": split_kind,
        "test_fraction": fraction,
        "k": k,
        "models": [
            {"name": r.name, "settings": r.settings, "fit_seconds": round(r.fit_seconds, 3)}
            | r.metrics.as_dict()
            for r in results
        ],
    }
