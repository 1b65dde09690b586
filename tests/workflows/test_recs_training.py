"""RecsTrainingWorkflow end to end on Temporal's time-skipping test server: a real control
worker with the real activities over a catalog, a local store holding watching written by
the real events writer, and Redis. Two runs: the first promotes and precomputes, the second
is measured against it; the progress query, the store and Redis afterwards, a replay."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from temporalio.client import WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from reelflow.catalog.db import make_engine, upgrade
from reelflow.config import Settings
from reelflow.lifecycle import recs_training as r
from reelflow.recs.model_store import ModelStore
from reelflow.recs.rows_cache import decode_rows, rows_key
from reelflow.recs.viewer_recs import ViewerRecs
from reelflow.storage import store_from_settings
from reelflow.workers.main import build_worker
from reelflow.workflows.recs_training import RecsTrainingWorkflow
from tests.recs.production import (
    NOW,
    VIEWERS,
    account,
    add_titles,
    favourite,
    viewer_of,
    viewing,
    world_events,
    write_events,
)


@pytest.fixture
def settings(tmp_path: Path, task_queue: str, redis_url: str) -> Settings:
    s = Settings(
        home=tmp_path / "state", control_queue=f"{task_queue}-control", redis_url=redis_url
    )
    s.ensure_home()
    upgrade(s.resolved_database_url)  # workers refuse a catalog behind the code
    add_titles(make_engine(s.resolved_database_url))
    write_events(s, world_events(s))
    return s


Run = tuple[r.TrainingSummary, r.TrainingProgress, WorkflowHandle[Any, r.TrainingSummary]]


async def _run(env: WorkflowEnvironment, settings: Settings) -> Run:
    handle = await env.client.start_workflow(
        RecsTrainingWorkflow.run,
        r.TrainingRequest(now=NOW.isoformat()),
        id=f"recs-training-{uuid.uuid4().hex[:8]}",
        task_queue=settings.control_queue,
    )
    summary = await handle.result()
    progress = await handle.query(RecsTrainingWorkflow.progress)
    return summary, progress, handle


async def test_training_promotes_precomputes_and_then_compares(
    time_skipping_env: WorkflowEnvironment, settings: Settings
) -> None:
    env = time_skipping_env
    async with build_worker(env.client, settings, "control"):
        first, progress, handle = await _run(env, settings)
        assert first.trained.version == 1 and first.promoted
        assert first.trained.serving_version is None and first.trained.viewers == VIEWERS
        assert first.precomputed.version == 1 and first.precomputed.viewers == VIEWERS
        assert (progress.stage, progress.version, progress.promoted) == ("done", 1, True)

        # New plays after the first model's training: the second run has something to
        # compare both models on, and the same world says the candidate is no worse.
        later = NOW - timedelta(hours=1)
        fresh = [
            e
            for n in range(VIEWERS)
            for e in viewing(viewer_of(settings, account(n)), f"{favourite(n)}-9", later, 1.0)
        ]
        write_events(settings, fresh)
        second, progress2, _ = await _run(env, settings)
    trained = second.trained
    assert trained.version == 2 and trained.serving_version == 1
    assert trained.compared_ndcg is not None and trained.serving_ndcg is not None
    assert second.promoted == (trained.compared_ndcg >= trained.serving_ndcg * 0.98)
    assert progress2.decision == second.decision
    models = ModelStore(store_from_settings(settings))
    assert [v.version for v in models.versions()] == [1, 2]
    assert models.metrics(2)["compared_with"] == 1
    client = redis.Redis.from_url(settings.redis_url)
    try:
        cached = decode_rows(client.hgetall(rows_key(viewer_of(settings, account(0)))))
    finally:
        client.close()
    assert cached is not None and cached.version == str(models.serving_version())
    hybrid = cached.recs("hybrid")
    assert isinstance(hybrid, ViewerRecs) and hybrid.top_picks[0].startswith(favourite(0))
    history = await handle.fetch_history()
    replayed = await Replayer(workflows=[RecsTrainingWorkflow]).replay_workflow(
        history, raise_on_replay_failure=False
    )
    assert replayed.replay_failure is None


async def test_an_instant_after_the_runs_start_is_refused(
    time_skipping_env: WorkflowEnvironment, settings: Settings
) -> None:
    # The test server's clock (it skips ahead), not this machine's.
    later = await time_skipping_env.get_current_time() + timedelta(days=1)
    async with build_worker(time_skipping_env.client, settings, "control"):
        with pytest.raises(WorkflowFailureError) as failed:
            await time_skipping_env.client.execute_workflow(
                RecsTrainingWorkflow.run,
                r.TrainingRequest(now=later.isoformat()),
                id=f"recs-training-{uuid.uuid4().hex[:8]}",
                task_queue=settings.control_queue,
            )
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "BadInstant"


async def test_a_store_with_no_watching_trains_nothing_and_the_run_succeeds(
    time_skipping_env: WorkflowEnvironment, tmp_path: Path, task_queue: str, redis_url: str
) -> None:
    fresh = Settings(
        home=tmp_path / "fresh", control_queue=f"{task_queue}-fresh", redis_url=redis_url
    )
    fresh.ensure_home()
    upgrade(fresh.resolved_database_url)
    add_titles(make_engine(fresh.resolved_database_url), {"doc-1": "Documentary"})
    async with build_worker(time_skipping_env.client, fresh, "control"):
        summary, progress, _ = await _run(time_skipping_env, fresh)
    assert summary.trained.version is None and "nothing to hold out" in summary.trained.skipped
    assert not summary.promoted and summary.decision.startswith("no candidate")
    assert (summary.precomputed.version, summary.precomputed.viewers) == (None, 0)
    assert progress.stage == "done"
