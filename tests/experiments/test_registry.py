"""What an operator does with experiments (experiments.registry), on SQLite and PostgreSQL: a
definition is checked before it is stored, a started one cannot be edited whatever the edit,
a start overlapping a running experiment's layer slice is refused, and the running set is
what the playback API assigns from."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.engine import Engine

from reelflow.catalog.experiments import ExperimentConflict, get_experiment, list_experiments
from reelflow.experiments import registry
from reelflow.experiments.assignment import InvalidExperiment, Viewer
from reelflow.experiments.definitions import ExperimentIn, ExperimentPatch
from tests.experiments.test_definitions import body


def _in(**changes: Any) -> ExperimentIn:
    return ExperimentIn.model_validate(body(**changes))


def test_nothing_is_stored_for_a_definition_that_cannot_run(catalog: Engine) -> None:
    with pytest.raises(InvalidExperiment, match=r"target\.devices"):
        registry.create(catalog, _in(target={"devices": ["fridge"]}), "ops")
    assert list_experiments(catalog) == []


def test_a_started_experiment_refuses_any_edit(catalog: Engine) -> None:
    registry.create(catalog, _in(), "ops")
    registry.update(catalog, "abr-ladder", ExperimentPatch.model_validate({"mde": 0.1}), "ops")
    registry.start(catalog, "abr-ladder", "ops")
    for patch in ({"hypothesis": "changed"}, {"primary_metric": "no-such-metric"}):
        with pytest.raises(ExperimentConflict, match="cannot be edited"):
            registry.update(catalog, "abr-ladder", ExperimentPatch.model_validate(patch), "ops")
    assert get_experiment(catalog, "abr-ladder").definition.mde == 0.1


def test_layers_keep_running_experiments_apart(catalog: Engine) -> None:
    registry.create(catalog, _in(key="abr-one", layer={"name": "abr", "end": 0.5}), "ops")
    registry.create(catalog, _in(key="abr-two", layer={"name": "abr", "start": 0.4}), "ops")
    registry.create(catalog, _in(key="abr-three", layer={"name": "abr", "start": 0.5}), "ops")
    registry.create(catalog, _in(key="artwork", layer=None, target={}), "ops")
    registry.start(catalog, "abr-one", "ops")
    with pytest.raises(ExperimentConflict, match="abr-one and abr-two overlap in abr"):
        registry.start(catalog, "abr-two", "ops")
    assert get_experiment(catalog, "abr-two").status == "draft"
    registry.start(catalog, "abr-three", "ops")  # [0.5, 1): beside abr-one, not on it
    registry.start(catalog, "artwork", "ops")

    assigner = registry.running_assigner(catalog)
    assert sorted(e.key for e in assigner.experiments) == ["abr-one", "abr-three", "artwork"]
    for i in range(300):
        got = assigner.assign(Viewer(f"acct-{i}", "DE", "premium", "tv"))
        assert not {"abr-one", "abr-three"} <= set(got)  # one layer: at most one of them
        assert "artwork" in got  # no target, whole traffic: everyone
    registry.stop(catalog, "abr-one", "ops")
    with pytest.raises(ExperimentConflict, match="overlap in abr"):
        registry.start(catalog, "abr-two", "ops")  # [0.4, 1) still overlaps abr-three
    registry.create(catalog, _in(key="abr-four", layer={"name": "abr", "end": 0.5}), "ops")
    registry.start(catalog, "abr-four", "ops")  # the slice abr-one left
    keys = sorted(e.key for e in registry.running_assigner(catalog).experiments)
    assert keys == ["abr-four", "abr-three", "artwork"]


def test_any_json_config_is_kept_as_written(catalog: Engine) -> None:
    config = {"abr": {"bandwidthUpgradeTarget": 0.85}, "odd \u0000 key": ["\u0000", None, 1e300]}
    variants = [{"key": "a", "weight": 0.5, "config": config}, {"key": "b", "weight": 0.5}]
    registry.create(catalog, _in(variants=variants), "ops")
    assert get_experiment(catalog, "abr-ladder").definition.variants[0].config == config
