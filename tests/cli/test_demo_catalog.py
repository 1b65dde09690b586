"""The demo's shelf without a stack: its titles are valid and distinct, and the home
experiment it starts is a valid running experiment whatever an earlier demo left."""

from __future__ import annotations

from pathlib import Path

from reelflow.catalog import engine_from_settings
from reelflow.catalog.db import upgrade
from reelflow.catalog.experiments import get_experiment
from reelflow.cli.demo_catalog import HOME_EXPERIMENT, SHELF, start_home_experiment
from reelflow.config import Settings
from reelflow.domain.ids import is_title_id
from reelflow.experiments import registry


def test_the_shelf_is_distinct_title_ids_of_several_genres() -> None:
    assert all(is_title_id(t.id) for t in SHELF)
    assert len({t.id for t in SHELF}) == len(SHELF)
    assert len({g for t in SHELF for g in t.genres}) >= 5


def test_the_home_experiment_is_started_once_and_left_as_an_operator_leaves_it(
    tmp_path: Path,
) -> None:
    settings = Settings(home=tmp_path / "state")
    settings.ensure_home()
    upgrade(settings.resolved_database_url)
    engine = engine_from_settings(settings)
    assert start_home_experiment(settings) == HOME_EXPERIMENT
    row = get_experiment(engine, HOME_EXPERIMENT)
    assert row.status == "running"
    models = {v.key: v.config["recs_model"] for v in row.definition.variants}
    assert models == {"popularity": "popularity", "hybrid": "hybrid"}
    # a second demo changes nothing
    start_home_experiment(settings)
    assert get_experiment(engine, HOME_EXPERIMENT).status == "running"
    registry.stop(engine, HOME_EXPERIMENT, "operator")
    start_home_experiment(settings)  # stopped by an operator: stays stopped
    assert get_experiment(engine, HOME_EXPERIMENT).status == "stopped"
