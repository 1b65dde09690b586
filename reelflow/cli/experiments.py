"""`reelflow experiments ...`: create, list, show, start, stop an experiment and read its results.

The same rules as the admin API (experiments/registry.py), on the catalog directly, audited
as "cli". A running API sees a start or stop within its refresh (REFRESH_S, 5 s). Exit
codes: 0 done, 1 refused (no such experiment, or its status does not allow it), 2 bad input
or an unreachable catalog.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console

from reelflow.config import ConfigError, get_settings

experiments_app = typer.Typer(no_args_is_help=True, help="A/B tests: define, run, read results")
err = Console(stderr=True)
ACTOR = "cli"


def _fail(message: str, code: int) -> NoReturn:
    err.print(f"[red]{message}[/]", highlight=False)
    raise typer.Exit(code)


def _engine() -> Any:
    from reelflow.catalog import engine_from_settings
    from reelflow.catalog.db import SchemaBehind

    try:
        return engine_from_settings(get_settings())
    except (SchemaBehind, ConfigError) as exc:
        _fail(str(exc), 2)


def _run(call: Any, *args: Any) -> Any:
    """``call``, its refusals as a message and an exit code."""
    from pydantic import ValidationError
    from sqlalchemy.exc import SQLAlchemyError

    from reelflow.catalog.experiments import (
        ExperimentConflict,
        ExperimentExists,
        ExperimentNotFound,
    )
    from reelflow.experiments.assignment import InvalidExperiment
    from reelflow.experiments.results import NotStarted

    try:
        return call(*args)
    except ValidationError as exc:
        _fail("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()), 2)
    except InvalidExperiment as exc:
        _fail(str(exc), 2)
    except (ExperimentNotFound, ExperimentExists, ExperimentConflict, NotStarted) as exc:
        _fail(str(exc), 1)
    except SQLAlchemyError as exc:
        _fail(f"the catalog is not reachable ({type(exc).__name__})", 2)


def _shown(row: Any, audit: list[Any] | None = None) -> dict[str, Any]:
    from reelflow.experiments.definitions import as_input

    times = {name: getattr(row, name) for name in ("created_at", "started_at", "stopped_at")}
    shown = {**as_input(row.definition), "status": row.status}
    shown |= {k: None if v is None else v.isoformat() for k, v in times.items()}
    if audit is not None:
        shown["audit"] = [{"actor": a.actor, "action": a.action, "changes": a.changes,
                           "at": a.at.isoformat()} for a in audit]  # fmt: skip
    return shown


@experiments_app.command("create")
def create(
    file: Annotated[Path, typer.Option("--file", "-f", help="the spec: a JSON file")],
) -> None:
    """Create a draft from a JSON spec (the body of POST /v1/admin/experiments)."""
    from reelflow.experiments import registry
    from reelflow.experiments.definitions import ExperimentIn

    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        _fail(f"cannot read {file}: {exc.strerror}", 2)
    body = _run(ExperimentIn.model_validate_json, text)
    typer.echo(json.dumps(_shown(_run(registry.create, _engine(), body, ACTOR))))


@experiments_app.command("list")
def list_(
    status: Annotated[str | None, typer.Option(help="draft, running or stopped")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Every experiment (newest first): key, status, primary metric, start and stop."""
    from reelflow.catalog.experiments import list_experiments

    if status not in (None, "draft", "running", "stopped"):
        _fail(f"--status: {status!r} is not draft, running or stopped", 2)
    rows = _run(list_experiments, _engine(), status)
    for row in rows:
        shown = _shown(row)
        if as_json:
            typer.echo(json.dumps(shown))
        else:
            when = f"{shown['started_at'] or '-'} .. {shown['stopped_at'] or '-'}"
            typer.echo(f"{row.key}\t{row.status}\t{row.definition.primary_metric}\t{when}")


@experiments_app.command("show")
def show(key: str) -> None:
    """One experiment with its audit trail, as JSON."""
    from reelflow.catalog.experiments import experiment_audit, get_experiment

    engine = _engine()
    row = _run(get_experiment, engine, key)
    typer.echo(json.dumps(_shown(row, _run(experiment_audit, engine, key)), indent=2))


@experiments_app.command("start")
def start(key: str) -> None:
    """Start a draft (running APIs assign from it within 5 s)."""
    from reelflow.experiments import registry

    row = _run(registry.start, _engine(), key, ACTOR)
    typer.echo(f"{key} running since {row.started_at.isoformat()}")


@experiments_app.command("stop")
def stop(key: str) -> None:
    """Stop a running experiment; its results stay readable."""
    from reelflow.experiments import registry

    row = _run(registry.stop, _engine(), key, ACTOR)
    typer.echo(f"{key} stopped at {row.stopped_at.isoformat()}")


@experiments_app.command("results")
def results(
    key: str,
    as_json: Annotated[bool, typer.Option("--json", help="the API's answer")] = False,
    series: Annotated[bool, typer.Option("--series", help="results over time (JSON)")] = False,
    bucket: Annotated[str | None, typer.Option(help="hour or day, for --series")] = None,
) -> None:
    """The results now (or at the stop): lifts, intervals, SRM and a decision per variant."""
    from reelflow.catalog.experiments import get_experiment
    from reelflow.events.queries import EventFiles
    from reelflow.experiments.results import as_json as to_json
    from reelflow.experiments.results import experiment_results, results_series

    if bucket not in (None, "hour", "day"):
        _fail(f"--bucket: {bucket!r} is not hour or day", 2)
    row = _run(get_experiment, _engine(), key)
    files, now = EventFiles.from_settings(get_settings()), datetime.now(UTC)
    if series:
        typer.echo(json.dumps(to_json(_run(results_series, row, files, now, bucket))))
        return
    report = to_json(_run(experiment_results, row, files, now))
    if as_json:
        typer.echo(json.dumps(report))
        return
    for line in _report_lines(report):
        typer.echo(line)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:+.2%}"


def _interval(pair: dict[str, Any] | None) -> str:
    return "-" if pair is None else f"[{_pct(pair['low'])}, {_pct(pair['high'])}]"


def _report_lines(report: dict[str, Any]) -> list[str]:
    """The report for a terminal: one line per metric and variant, then the decisions."""
    srm = report["results"]["srm"]
    counts = ", ".join(f"{v['key']} {v['viewers']}" for v in report["variants"])
    lines = [
        f"{report['key']} ({report['status']}) from {report['started_at']} to {report['as_of']}",
        f"viewers: {counts}; SRM {'MISMATCH' if srm['mismatch'] else 'ok'} "
        f"(p = {srm['p_value']:.3g})",
        "metric\trole\tvariant\tcontrol\tvalue\trelative lift\tsequential 95%\tfixed 95%\tverdict",
    ]
    for m in report["results"]["metrics"]:
        rel = m["relative"]
        values = ["-" if v is None else f"{v:.4g}" for v in (m["control_value"], m["value"])]
        lift = "-" if rel is None else _pct(rel["estimate"])
        seq = _interval(None if rel is None else rel["sequential"])
        fixed = _interval(None if rel is None else rel["fixed"])
        verdict = m["verdict"] + (f" ({m['reason']})" if m["reason"] else "")
        lines.append("\t".join([m["metric"], m["role"], m["variant"], *values, lift, seq,
                                fixed, verdict]))  # fmt: skip
    for d in report["results"]["decisions"]:
        needed = f"; viewers needed: {d['units_needed']}" if d["units_needed"] else ""
        lines.append(f"decision {d['variant']}: {d['hint']} ({', '.join(d['reasons'])}{needed})")
    return lines
