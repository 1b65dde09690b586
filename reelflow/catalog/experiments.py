"""Experiments in the catalog: definitions, variants, status moves and the audit of each change.

What a definition may hold is checked above, in ``experiments/definitions.py``; this module
stores it and enforces the life cycle, each move in one transaction with its audit row:
draft (editable) -> running (frozen: assigned viewers must keep their variant) -> stopped.
The row is read ``FOR UPDATE`` before a move, so two admins racing on one experiment are
serialised on PostgreSQL (SQLite runs one writer at a time anyway). Synchronous SQLAlchemy:
the API calls it through a thread.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, delete, select, update

from reelflow.catalog.db import session_scope
from reelflow.catalog.models import (
    Experiment,
    ExperimentAudit,
    ExperimentStatus,
    ExperimentVariant,
    as_utc,
    utcnow,
)


class ExperimentNotFound(LookupError):
    def __init__(self, key: str) -> None:
        super().__init__(f"no experiment {key!r}")
        self.key = key


class ExperimentExists(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(f"an experiment {key!r} exists already")
        self.key = key


class ExperimentConflict(RuntimeError):
    """The experiment's status (or a running one it would overlap) does not allow the move."""


@dataclass(frozen=True)
class VariantDef:
    key: str
    weight: float
    config: dict[str, Any]


@dataclass(frozen=True)
class Definition:
    """Everything an admin sets; checked by ``experiments.definitions`` before it comes here."""

    key: str
    variants: tuple[VariantDef, ...]
    primary_metric: str
    guardrails: tuple[str, ...] = ()
    hypothesis: str = ""
    mde: float | None = None
    countries: tuple[str, ...] = ()
    plans: tuple[str, ...] = ()
    devices: tuple[str, ...] = ()
    share: float = 1.0
    layer: str | None = None
    layer_start: float = 0.0
    layer_end: float = 1.0

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ExperimentRow:
    definition: Definition
    status: str
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    stopped_at: datetime | None

    @property
    def key(self) -> str:
        return self.definition.key


@dataclass(frozen=True)
class AuditRow:
    id: int
    experiment_key: str
    actor: str
    action: str
    changes: dict[str, Any]
    at: datetime


# Called inside a start's transaction with the experiment and the others running now; raises
# ExperimentConflict to refuse (two slices of one layer overlapping).
StartCheck = Callable[[ExperimentRow, Sequence[ExperimentRow]], None]


def _row(exp: Experiment, variants: Sequence[ExperimentVariant]) -> ExperimentRow:
    ordered = sorted(variants, key=lambda v: v.position)
    definition = Definition(
        key=exp.key,
        variants=tuple(VariantDef(v.key, v.weight, dict(v.config)) for v in ordered),
        primary_metric=exp.primary_metric,
        guardrails=tuple(exp.guardrails),
        hypothesis=exp.hypothesis,
        mde=exp.mde,
        countries=tuple(exp.target_countries),
        plans=tuple(exp.target_plans),
        devices=tuple(exp.target_devices),
        share=exp.target_share,
        layer=exp.layer,
        layer_start=exp.layer_start,
        layer_end=exp.layer_end,
    )
    created, updated = as_utc(exp.created_at), as_utc(exp.updated_at)
    assert created is not None and updated is not None
    return ExperimentRow(
        definition, exp.status, created, updated, as_utc(exp.started_at), as_utc(exp.stopped_at)
    )


def _set_definition(s: Session, exp: Experiment, d: Definition) -> None:
    exp.hypothesis, exp.primary_metric = d.hypothesis, d.primary_metric
    exp.guardrails, exp.mde, exp.target_share = list(d.guardrails), d.mde, d.share
    exp.target_countries, exp.target_plans = list(d.countries), list(d.plans)
    exp.target_devices = list(d.devices)
    exp.layer, exp.layer_start, exp.layer_end = d.layer, d.layer_start, d.layer_end
    s.add(exp)
    s.exec(delete(ExperimentVariant).where(col(ExperimentVariant.experiment_key) == d.key))
    for position, v in enumerate(d.variants):
        s.add(ExperimentVariant(experiment_key=d.key, key=v.key, position=position,
                                weight=v.weight, config=dict(v.config)))  # fmt: skip


def _audit(s: Session, key: str, actor: str, action: str, changes: dict[str, Any]) -> None:
    s.add(ExperimentAudit(experiment_key=key, actor=actor, action=action, changes=changes))


def _variants(s: Session, keys: Sequence[str]) -> dict[str, list[ExperimentVariant]]:
    found: dict[str, list[ExperimentVariant]] = {k: [] for k in keys}
    if keys:
        stmt = select(ExperimentVariant).where(col(ExperimentVariant.experiment_key).in_(keys))
        for v in s.exec(stmt):
            found[v.experiment_key].append(v)
    return found


def _found(s: Session, key: str) -> Experiment:
    exp = s.get(Experiment, key)
    if exp is None:
        raise ExperimentNotFound(key)
    return exp


def _lock_layer(s: Session, layer: str) -> None:
    # Every row of the layer, in one order for every start (so no deadlock): on PostgreSQL
    # two starts in one layer run one after the other, the second seeing the first running.
    stmt = (
        select(Experiment)
        .where(Experiment.layer == layer)
        .order_by(col(Experiment.key))
        .with_for_update()
    )
    s.exec(stmt).all()


_REFUSED = {
    ExperimentStatus.DRAFT: "{key} is {status}: a started experiment cannot be edited (its "
    "viewers must keep their variants); create a new experiment instead",
    ExperimentStatus.RUNNING: "{key} is {status}: only a running one can stop",
}
_START_REFUSED = "{key} is {status}: only a draft can start"


def _claim(s: Session, key: str, while_in: str, refused: str, **values: Any) -> None:
    """Update the row only while it is in status ``while_in``: one conditional UPDATE, so a status
    read a moment ago (SQLite reads outside the write transaction) cannot be acted on
    after another admin's move; ExperimentConflict with ``refused`` otherwise."""
    stmt = (
        update(Experiment)
        .where(col(Experiment.key) == key, col(Experiment.status) == while_in)
        .values(**values)
    )
    if s.connection().execute(stmt).rowcount != 1:
        now = s.connection().execute(select(Experiment.status).where(Experiment.key == key))
        raise ExperimentConflict(refused.format(key=key, status=now.scalar_one()))


def create_experiment(engine: Engine, definition: Definition, actor: str) -> ExperimentRow:
    """A new draft; ExperimentExists when the key is taken (keys are never reused: the key
    seeds the hash, so a reused one would hand viewers their old variants)."""
    try:
        with session_scope(engine) as s:
            if s.get(Experiment, definition.key) is not None:
                raise ExperimentExists(definition.key)
            exp = Experiment(key=definition.key, primary_metric=definition.primary_metric)
            s.add(exp)
            s.flush()  # the experiment row first: the variants refer to it
            _set_definition(s, exp, definition)
            _audit(s, definition.key, actor, "create", {"definition": definition.as_json()})
    except IntegrityError:  # two creates of one key at once: the other won
        raise ExperimentExists(definition.key) from None
    return get_experiment(engine, definition.key)


def get_experiment(engine: Engine, key: str) -> ExperimentRow:
    with Session(engine) as s:
        exp = s.get(Experiment, key)
        if exp is None:
            raise ExperimentNotFound(key)
        return _row(exp, _variants(s, [key])[key])


def list_experiments(engine: Engine, status: str | None = None) -> list[ExperimentRow]:
    """Every experiment (or those of one status), newest first."""
    stmt = select(Experiment)
    if status is not None:
        stmt = stmt.where(Experiment.status == status)
    with Session(engine) as s:
        rows = list(s.exec(stmt.order_by(col(Experiment.created_at).desc(), col(Experiment.key))))
        variants = _variants(s, [r.key for r in rows])
        return [_row(r, variants[r.key]) for r in rows]


def _changed(before: Definition, after: Definition) -> dict[str, Any]:
    old, new = before.as_json(), after.as_json()
    return {k: {"from": old[k], "to": new[k]} for k in new if new[k] != old[k]}


def update_experiment(engine: Engine, definition: Definition, actor: str) -> ExperimentRow:
    """Replace a draft's definition; ExperimentConflict once it has started. An edit that
    changes nothing is not audited."""
    draft = ExperimentStatus.DRAFT
    with session_scope(engine) as s:
        exp = _found(s, definition.key)
        if exp.status != draft:
            raise ExperimentConflict(_REFUSED[draft].format(key=exp.key, status=exp.status))
        changes = _changed(_row(exp, _variants(s, [exp.key])[exp.key]).definition, definition)
        if changes:
            now = utcnow()
            _claim(s, exp.key, draft, _REFUSED[draft], updated_at=now)
            _set_definition(s, exp, definition)
            exp.updated_at = now
            _audit(s, definition.key, actor, "update", changes)
    return get_experiment(engine, definition.key)


def start_experiment(engine: Engine, key: str, actor: str, check: StartCheck) -> ExperimentRow:
    """draft -> running, now; ``check`` then sees it beside the others running (layer
    overlaps) and may refuse, undoing the start."""
    with session_scope(engine) as s:
        exp = _found(s, key)
        if exp.layer is not None:
            _lock_layer(s, exp.layer)
        now = utcnow()
        _claim(s, key, ExperimentStatus.DRAFT, _START_REFUSED,
               status=ExperimentStatus.RUNNING, started_at=now, updated_at=now)  # fmt: skip
        # Read after the claim: on SQLite the write lock is held from the UPDATE on, so a
        # start committed before it is seen here and one after it waits.
        running = list(s.exec(select(Experiment).where(
            Experiment.status == ExperimentStatus.RUNNING
        ).execution_options(populate_existing=True)))  # fmt: skip
        variants = _variants(s, [r.key for r in running])
        rows = {r.key: _row(r, variants[r.key]) for r in running}
        started = rows.pop(key)
        check(started, list(rows.values()))
        _audit(s, key, actor, "start", _moved(ExperimentStatus.DRAFT, started))
        return started


def stop_experiment(engine: Engine, key: str, actor: str) -> ExperimentRow:
    """running -> stopped, now: no new viewer is assigned; the results stay readable."""
    running = ExperimentStatus.RUNNING
    with session_scope(engine) as s:
        _found(s, key)
        now = utcnow()
        _claim(s, key, running, _REFUSED[running],
               status=ExperimentStatus.STOPPED, stopped_at=now, updated_at=now)  # fmt: skip
        exp = s.get(Experiment, key, populate_existing=True)
        assert exp is not None
        stopped = _row(exp, _variants(s, [key])[key])
        _audit(s, key, actor, "stop", _moved(running, stopped))
        return stopped


def _moved(before: str, row: ExperimentRow) -> dict[str, Any]:
    at = row.started_at if row.status == ExperimentStatus.RUNNING else row.stopped_at
    assert at is not None
    return {"status": {"from": before, "to": row.status}, "at": at.isoformat()}


def experiment_audit(engine: Engine, key: str) -> list[AuditRow]:
    """The experiment's changes, oldest first."""
    stmt = select(ExperimentAudit).where(ExperimentAudit.experiment_key == key)
    with Session(engine) as s:
        rows = list(s.exec(stmt.order_by(col(ExperimentAudit.id))))
    return [
        AuditRow(
            r.id or 0, r.experiment_key, r.actor, r.action, dict(r.changes), as_utc(r.at) or r.at
        )
        for r in rows
    ]
