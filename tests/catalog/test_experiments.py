"""Experiments in the catalog (catalog.experiments), on SQLite and PostgreSQL: definitions and
their variants kept in order, the draft -> running -> stopped life cycle with its times, edits
refused once started, every change audited; migration 0007 down and up again."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest
from alembic import command
from sqlalchemy import inspect
from sqlalchemy.engine import Engine

from reelflow.catalog import experiments as ex
from reelflow.catalog.db import alembic_config, make_engine, upgrade
from reelflow.catalog.experiments import Definition, ExperimentRow, VariantDef


def _definition(key: str = "abr-ladder", **changes: object) -> Definition:
    base = Definition(
        key=key,
        variants=(
            VariantDef("control", 0.5, {}),
            VariantDef("fast-start", 0.5, {"abr": {"defaultBandwidthEstimate": 3_000_000}}),
        ),
        primary_metric="minutes_watched",
        guardrails=("startup_p90", "rebuffer_ratio"),
        hypothesis="a higher first estimate starts sharper without stalling more",
        mde=0.05,
        countries=("DE", "FR"),
        plans=("premium",),
        devices=("tv",),
        share=0.5,
        layer="abr",
        layer_start=0.0,
        layer_end=0.5,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def _accept(_new: ExperimentRow, _running: Sequence[ExperimentRow]) -> None:
    return None


def test_a_definition_comes_back_as_written(catalog: Engine) -> None:
    made = ex.create_experiment(catalog, _definition(), "ops-ann")
    assert made.status == "draft" and made.started_at is None and made.stopped_at is None
    assert made.created_at.tzinfo is not None
    read = ex.get_experiment(catalog, "abr-ladder")
    assert read.definition == _definition()  # variants in order, configs, target, layer
    assert [r.key for r in ex.list_experiments(catalog)] == ["abr-ladder"]
    assert ex.list_experiments(catalog, "running") == []
    with pytest.raises(ex.ExperimentExists):
        ex.create_experiment(catalog, _definition(hypothesis="again"), "ops-bob")
    with pytest.raises(ex.ExperimentNotFound):
        ex.get_experiment(catalog, "nope")


def test_a_draft_is_edited_then_started_then_stopped_and_each_step_audited(
    catalog: Engine,
) -> None:
    ex.create_experiment(catalog, _definition(), "ops-ann")
    three = (VariantDef("a", 0.4, {}), VariantDef("b", 0.3, {"x": 1}), VariantDef("c", 0.3, {}))
    edited = ex.update_experiment(catalog, _definition(variants=three, mde=None), "ops-bob")
    assert [v.key for v in edited.definition.variants] == ["a", "b", "c"]
    assert edited.definition.mde is None and edited.updated_at >= edited.created_at
    # The same definition again changes nothing and is not audited.
    ex.update_experiment(catalog, edited.definition, "ops-bob")

    running = ex.start_experiment(catalog, "abr-ladder", "ops-cy", _accept)
    assert running.status == "running" and running.started_at is not None
    with pytest.raises(ex.ExperimentConflict, match="cannot be edited"):
        ex.update_experiment(catalog, _definition(), "ops-bob")
    with pytest.raises(ex.ExperimentConflict, match="only a draft can start"):
        ex.start_experiment(catalog, "abr-ladder", "ops-cy", _accept)
    stopped = ex.stop_experiment(catalog, "abr-ladder", "ops-dee")
    assert stopped.status == "stopped" and stopped.stopped_at is not None
    assert stopped.started_at == running.started_at and stopped.stopped_at >= running.started_at
    with pytest.raises(ex.ExperimentConflict, match="only a running one can stop"):
        ex.stop_experiment(catalog, "abr-ladder", "ops-dee")
    assert ex.get_experiment(catalog, "abr-ladder").definition.variants == three

    audit = ex.experiment_audit(catalog, "abr-ladder")
    assert [(a.action, a.actor) for a in audit] == [
        ("create", "ops-ann"), ("update", "ops-bob"), ("start", "ops-cy"), ("stop", "ops-dee"),
    ]  # fmt: skip
    assert audit[0].changes["definition"]["key"] == "abr-ladder"
    assert set(audit[1].changes) == {"variants", "mde"}
    assert audit[1].changes["mde"] == {"from": 0.05, "to": None}
    assert audit[2].changes["status"] == {"from": "draft", "to": "running"}
    assert audit[3].changes["status"] == {"from": "running", "to": "stopped"}
    assert all(a.at.tzinfo is not None for a in audit)
    assert audit[0].at <= audit[-1].at


def test_a_start_the_check_refuses_leaves_a_draft(catalog: Engine) -> None:
    ex.create_experiment(catalog, _definition("first"), "ops")
    ex.start_experiment(catalog, "first", "ops", _accept)
    ex.create_experiment(catalog, _definition("second"), "ops")
    seen: list[list[str]] = []

    def refuse(new: ExperimentRow, running: Sequence[ExperimentRow]) -> None:
        seen.append([new.key, *(r.key for r in running)])
        raise ex.ExperimentConflict("overlaps first")

    with pytest.raises(ex.ExperimentConflict, match="overlaps first"):
        ex.start_experiment(catalog, "second", "ops", refuse)
    assert seen == [["second", "first"]]  # the check saw the running one
    assert ex.get_experiment(catalog, "second").status == "draft"
    assert [a.action for a in ex.experiment_audit(catalog, "second")] == ["create"]


def test_migration_0007_goes_down_and_up(catalog_url: str) -> None:
    command.downgrade(alembic_config(catalog_url), "0006")
    engine = make_engine(catalog_url)
    tables = set(inspect(engine).get_table_names())
    assert not tables & {"experiments", "experiment_variants", "experiment_audit"}
    engine.dispose()
    upgrade(catalog_url)
    engine = make_engine(catalog_url)
    ex.create_experiment(engine, _definition(), "ops")
    assert ex.get_experiment(engine, "abr-ladder").definition == _definition()
    engine.dispose()


def test_two_starts_at_once_in_one_layer_start_one(catalog: Engine) -> None:
    """Two admins start overlapping experiments of one layer at the same moment: one runs,
    the other is refused by the check (no deadlock, no lost check) on either database."""
    for key in ("left", "right"):
        ex.create_experiment(catalog, _definition(key), "ops")
    ready = threading.Barrier(2)

    def overlap(new: ExperimentRow, running: Sequence[ExperimentRow]) -> None:
        if any(r.definition.layer == new.definition.layer for r in running):
            raise ex.ExperimentConflict(f"{new.key} overlaps")

    def start(key: str) -> str:
        ready.wait(timeout=30)
        try:
            ex.start_experiment(catalog, key, "ops", overlap)
        except ex.ExperimentConflict:
            return "refused"
        return "running"

    with ThreadPoolExecutor(2) as pool:
        outcomes = sorted(pool.map(start, ["left", "right"], timeout=120))
    assert outcomes == ["refused", "running"]
    statuses = sorted(r.status for r in ex.list_experiments(catalog))
    assert statuses == ["draft", "running"]
