"""`reelflow recs models | rollback | train`, run as an operator runs them: versions in the
settings' object store, a rollback and its refusals, a training run through the Temporal
dev server worked by a real control worker."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from reelflow.catalog.db import make_engine, upgrade
from reelflow.config import Settings
from reelflow.recs.model_store import ModelStore
from reelflow.storage import store_from_settings
from reelflow.workers.main import build_worker
from tests.recs.production import add_titles, world_events, write_events
from tests.recs.serving_support import serving_model

REELFLOW = str(Path(sys.executable).parent / "reelflow")


def _cli(
    settings: Settings, *args: str, address: str = "127.0.0.1:1"
) -> subprocess.CompletedProcess[str]:
    env = {
        "REELFLOW_HOME": str(settings.home),
        "REELFLOW_TEMPORAL_ADDRESS": address,
        "REELFLOW_CONTROL_QUEUE": settings.control_queue,
        "PATH": "/usr/bin",
        "COLUMNS": "160",  # rich wraps the table to the terminal; a pipe has none
    }
    return subprocess.run(
        [REELFLOW, "recs", *args], capture_output=True, text=True, env=env, timeout=120
    )


@pytest.fixture
def settings(tmp_path: Path, task_queue: str, redis_url: str) -> Settings:
    s = Settings(
        home=tmp_path / "state", control_queue=f"{task_queue}-control", redis_url=redis_url
    )
    s.ensure_home()
    upgrade(s.resolved_database_url)
    return s


def test_models_lists_versions_and_rollback_serves_an_earlier_one(settings: Settings) -> None:
    empty = _cli(settings, "models")
    assert empty.returncode == 0 and "no trained model yet" in empty.stdout
    models = ModelStore(store_from_settings(settings))
    models.promote(models.save(serving_model(), {"ndcg_at_10": 0.25, "viewers": 60}))
    compared = {"compared_ndcg_at_10": 0.31, "serving_ndcg_at_10": 0.3, "compared_with": 1}
    models.promote(models.save(serving_model(), {"ndcg_at_10": 0.27, "viewers": 61, **compared}))

    listed = json.loads(_cli(settings, "models", "--json").stdout)
    assert listed["serving"]["version"] == 2
    assert [
        (v["version"], v["serving"], v["metrics"]["ndcg_at_10"]) for v in listed["versions"]
    ] == [
        (1, False, 0.25),
        (2, True, 0.27),
    ]
    table = _cli(settings, "models")
    assert "0.2700" in table.stdout and "0.3100 vs 0.3000 (v1)" in table.stdout

    back = _cli(settings, "rollback", "1")
    assert back.returncode == 0 and "serving v1 (was v2)" in back.stdout
    assert models.serving_version() == 1


def test_rollback_refuses_what_cannot_serve(settings: Settings) -> None:
    models = ModelStore(store_from_settings(settings))
    models.promote(models.save(serving_model(), {}))
    unknown = _cli(settings, "rollback", "9")
    assert unknown.returncode == 2 and "no version 9" in unknown.stderr
    assert _cli(settings, "rollback", "latest").returncode == 2  # not a number
    models.save(serving_model(), {})
    key = "models/hybrid/v2/manifest.json"
    models.store.put_bytes(key, b"{}")
    broken = _cli(settings, "rollback", "2")
    assert broken.returncode == 2 and "format" in broken.stderr
    assert models.serving_version() == 1


def test_train_without_temporal_says_so(settings: Settings) -> None:
    done = _cli(settings, "train")
    assert done.returncode == 2 and done.stderr.strip()


async def test_train_wait_runs_a_training_and_prints_its_summary(
    temporal_env: WorkflowEnvironment, settings: Settings
) -> None:
    add_titles(make_engine(settings.resolved_database_url))
    write_events(settings, world_events(settings))
    address = temporal_env.client.service_client.config.target_host
    async with build_worker(temporal_env.client, settings, "control"):
        done = await asyncio.to_thread(_cli, settings, "train", "--wait", address=address)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["trained"]["version"] == 1 and summary["promoted"] is True
    assert ModelStore(store_from_settings(settings)).serving_version() == 1
