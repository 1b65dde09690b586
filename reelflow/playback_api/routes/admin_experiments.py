"""Experiments for admins (admin token): create, list, read, edit a draft, start, stop, and
read the results (now, and over time for the console's interval charts).

The rules live in ``experiments/registry.py`` and ``experiments/definitions.py``, shared with
the CLI: a definition that cannot run is a 422 naming the field, a started experiment's
edit (or a start overlapping a running one in its layer, or a second start) a 409
``conflict``. Every change is audited with the admin token's subject. A start or stop
reaches this process's playback starts at once and the other processes within
``experiment_exposure.REFRESH_S``. Catalog and DuckDB work runs in a thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy.exc import SQLAlchemyError

from reelflow.catalog.experiments import (
    AuditRow,
    ExperimentConflict,
    ExperimentExists,
    ExperimentNotFound,
    ExperimentRow,
    experiment_audit,
    get_experiment,
    list_experiments,
)
from reelflow.domain.ids import SLUG_PATTERN
from reelflow.experiments import registry
from reelflow.experiments.assignment import InvalidExperiment
from reelflow.experiments.definitions import (
    ExperimentIn,
    ExperimentPatch,
    LayerIn,
    TargetIn,
    VariantIn,
    as_input,
)
from reelflow.experiments.results import (
    Bucket,
    NotStarted,
    as_json,
    experiment_results,
    results_series,
)
from reelflow.playback_api.auth.auth import Viewer
from reelflow.playback_api.http.context import ApiContext, current_admin, get_ctx
from reelflow.playback_api.http.problems import Problem
from reelflow.playback_api.routes import API_V1

router = APIRouter(
    prefix=f"{API_V1}/admin/experiments",
    tags=["experiments"],
    dependencies=[Depends(current_admin)],
)
Key = Annotated[str, Path(pattern=SLUG_PATTERN, description="the experiment's key")]
Status = Literal["draft", "running", "stopped"]
T = TypeVar("T")

_PROBLEMS: dict[int | str, dict[str, Any]] = {
    401: {"description": "invalid_token or token_expired"},
    403: {"description": "forbidden: not an admin token"},
    404: {"description": "not_found: no such experiment"},
    409: {"description": "conflict: the experiment's status does not allow it"},
    422: {"description": "validation_error, naming the field"},
}


class AuditOut(BaseModel):
    actor: str = Field(description='"cli", or the admin token\'s subject')
    action: str = Field(description="create, update, start or stop")
    changes: dict[str, Any] = Field(description="the definition, fields from/to, or status")
    at: datetime


class ExperimentOut(BaseModel):
    key: str
    status: Status
    hypothesis: str
    variants: list[VariantIn]
    target: TargetIn
    layer: LayerIn | None
    primary_metric: str
    guardrails: list[str]
    mde: float | None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    stopped_at: datetime | None
    audit: list[AuditOut] | None = Field(
        default=None, description="every change, oldest first (one experiment's answer only)"
    )

    @classmethod
    def of(cls, row: ExperimentRow, audit: list[AuditRow] | None = None) -> ExperimentOut:
        trail = None if audit is None else [AuditOut(**_fields(a)) for a in audit]
        times = {"created_at": row.created_at, "updated_at": row.updated_at,
                 "started_at": row.started_at, "stopped_at": row.stopped_at}  # fmt: skip
        return cls.model_validate(
            {**as_input(row.definition), **times, "status": row.status, "audit": trail}
        )


class ExperimentList(BaseModel):
    experiments: list[ExperimentOut] = Field(description="newest first")


def _fields(a: AuditRow) -> dict[str, Any]:
    return {"actor": a.actor, "action": a.action, "changes": a.changes, "at": a.at}


async def _catalog(call: Callable[..., T], *args: Any) -> T:
    """``call`` in a thread, its refusals as problems."""
    try:
        return await asyncio.to_thread(call, *args)
    except InvalidExperiment as exc:
        error = {"loc": ["body", *exc.field.split(".")], "msg": str(exc), "type": "invalid"}
        raise Problem("validation_error", str(exc), field=exc.field, errors=[error]) from None
    except ValidationError as exc:  # a patch that leaves the whole definition malformed
        errors = [
            {"loc": ["body", *map(str, e["loc"])], "msg": e["msg"], "type": e["type"]}
            for e in exc.errors()
        ]
        raise Problem("validation_error", "the edited experiment is invalid", errors=errors)
    except ExperimentNotFound as exc:
        raise Problem("not_found", str(exc)) from None
    except (ExperimentExists, ExperimentConflict, NotStarted) as exc:
        raise Problem("conflict", str(exc)) from None
    except SQLAlchemyError as exc:
        raise Problem("service_unavailable", "the catalog is not reachable") from exc


@router.post("", response_model=ExperimentOut, status_code=201, responses=_PROBLEMS)
async def create_experiment(
    body: ExperimentIn,
    admin: Viewer = Depends(current_admin),
    ctx: ApiContext = Depends(get_ctx),
) -> ExperimentOut:
    """A new experiment, as a draft; 409 when the key was ever used."""
    return ExperimentOut.of(await _catalog(registry.create, ctx.engine, body, admin.sub))


@router.get("", response_model=ExperimentList, responses=_PROBLEMS)
async def experiments(
    status: Annotated[Status | None, Query(description="only this status")] = None,
    ctx: ApiContext = Depends(get_ctx),
) -> ExperimentList:
    """Every experiment (or those of one status), newest first."""
    rows = await _catalog(list_experiments, ctx.engine, status)
    return ExperimentList(experiments=[ExperimentOut.of(r) for r in rows])


@router.get("/{key}", response_model=ExperimentOut, responses=_PROBLEMS)
async def experiment(key: Key, ctx: ApiContext = Depends(get_ctx)) -> ExperimentOut:
    """One experiment with its audit trail."""
    row = await _catalog(get_experiment, ctx.engine, key)
    return ExperimentOut.of(row, await _catalog(experiment_audit, ctx.engine, key))


@router.patch("/{key}", response_model=ExperimentOut, responses=_PROBLEMS)
async def edit_experiment(
    key: Key,
    body: ExperimentPatch,
    admin: Viewer = Depends(current_admin),
    ctx: ApiContext = Depends(get_ctx),
) -> ExperimentOut:
    """Edit a draft (the fields given replace the current ones); 409 once started."""
    return ExperimentOut.of(await _catalog(registry.update, ctx.engine, key, body, admin.sub))


@router.post("/{key}/start", response_model=ExperimentOut, responses=_PROBLEMS)
async def start_experiment(
    key: Key, admin: Viewer = Depends(current_admin), ctx: ApiContext = Depends(get_ctx)
) -> ExperimentOut:
    """Start a draft: viewers are assigned from the next playback start."""
    row = await _catalog(registry.start, ctx.engine, key, admin.sub)
    ctx.experiments.invalidate()
    return ExperimentOut.of(row)


@router.post("/{key}/stop", response_model=ExperimentOut, responses=_PROBLEMS)
async def stop_experiment(
    key: Key, admin: Viewer = Depends(current_admin), ctx: ApiContext = Depends(get_ctx)
) -> ExperimentOut:
    """Stop a running experiment: no one is assigned any more; results stay readable."""
    row = await _catalog(registry.stop, ctx.engine, key, admin.sub)
    ctx.experiments.invalidate()
    return ExperimentOut.of(row)


def _results(ctx: ApiContext, key: str, bucket: Bucket | None, series: bool) -> dict[str, Any]:
    row = get_experiment(ctx.engine, key)
    now = datetime.now(UTC)
    if series:
        return as_json(results_series(row, ctx.event_files, now, bucket))
    return as_json(experiment_results(row, ctx.event_files, now))


@router.get("/{key}/results", responses=_PROBLEMS)
async def experiment_results_now(key: Key, ctx: ApiContext = Depends(get_ctx)) -> JSONResponse:
    """Per variant and metric: values, absolute and relative lift with fixed-horizon and
    sequential (always-valid) intervals and p-values, a verdict; the SRM check; a decision
    hint per variant (docs/experiments.md). 409 for a draft."""
    return JSONResponse(await _catalog(_results, ctx, key, None, False))


@router.get("/{key}/results/timeseries", responses=_PROBLEMS)
async def experiment_results_over_time(
    key: Key,
    bucket: Annotated[
        Bucket | None, Query(description="hour or day; default hour for the first 72 h")
    ] = None,
    ctx: ApiContext = Depends(get_ctx),
) -> JSONResponse:
    """The results at the end of every bucket since the start (the latest 200): per variant
    and metric the relative lift with its fixed and sequential intervals, and viewers."""
    return JSONResponse(await _catalog(_results, ctx, key, bucket, True))
