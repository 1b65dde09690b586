"""What an operator does with experiments, for the admin API and the CLI alike: create, edit a
draft, start, stop, and the running set the playback API assigns from.

Each change goes through ``definitions.checked`` (``InvalidExperiment``: a 422 or a CLI
error naming the field) and is stored with its audit row by ``catalog.experiments``
(``ExperimentConflict``: a started experiment cannot be edited; only a draft starts and only
a running one stops). A start is refused when its layer slice overlaps a running
experiment's: the two would share viewers.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.engine import Engine

from reelflow.catalog import experiments as catalog
from reelflow.catalog.experiments import ExperimentConflict, ExperimentRow
from reelflow.catalog.models import ExperimentStatus
from reelflow.experiments.assignment import Assigner, InvalidExperiment
from reelflow.experiments.definitions import (
    ExperimentIn,
    ExperimentPatch,
    checked,
    patched,
    spec_of,
)


def create(engine: Engine, body: ExperimentIn, actor: str) -> ExperimentRow:
    return catalog.create_experiment(engine, checked(body), actor)


def update(engine: Engine, key: str, patch: ExperimentPatch, actor: str) -> ExperimentRow:
    current = catalog.get_experiment(engine, key)
    if current.status != ExperimentStatus.DRAFT:
        # Said before the patch is checked: the status is the answer, whatever the edit.
        raise ExperimentConflict(f"{key} is {current.status}: a started experiment cannot be "
                                 "edited (its viewers must keep their variants)")  # fmt: skip
    return catalog.update_experiment(engine, patched(current.definition, patch), actor)


def _fits(new: ExperimentRow, running: Sequence[ExperimentRow]) -> None:
    try:
        Assigner(spec_of(r.definition) for r in (*running, new))
    except InvalidExperiment as exc:
        raise ExperimentConflict(f"{new.key} cannot start: {exc}") from None


def start(engine: Engine, key: str, actor: str) -> ExperimentRow:
    return catalog.start_experiment(engine, key, actor, _fits)


def stop(engine: Engine, key: str, actor: str) -> ExperimentRow:
    return catalog.stop_experiment(engine, key, actor)


def running_assigner(engine: Engine) -> Assigner:
    """The assigner of the experiments running now (what a playback start consults)."""
    running = catalog.list_experiments(engine, ExperimentStatus.RUNNING)
    return Assigner(spec_of(r.definition) for r in running)
