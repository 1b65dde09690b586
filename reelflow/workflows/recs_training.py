"""RecsTrainingWorkflow: production recommendation training, started by a Temporal schedule
(``recs_training_schedule``) every few hours.

Train a candidate on the events store's watch history and measure it and the serving model
on the same recent holdout (one activity: the history never leaves it), promote the
candidate unless it regresses (``lifecycle.recs_training.promotion``, decided here), then
precompute the active viewers' lists with whichever model serves. The ``progress`` query
shows the stage, the candidate and the decision.

Deterministic orchestration only: activities through their typed definitions
(``lifecycle.activity_defs``); the run's instant is ``workflow.now()`` unless the request
names an earlier one.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    import reelflow.lifecycle.activity_defs as defs
    import reelflow.lifecycle.recs_training as r

RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=10),
    maximum_interval=timedelta(minutes=2),
    maximum_attempts=3,
    non_retryable_error_types=["ConfigError", "BadInstant", "ArtifactError"],
)
# Training on one machine is minutes at most (docs/recommendations.md); the heartbeat, not
# this, notices a dead worker.
TRAIN_TIMEOUT = timedelta(hours=2)
A = TypeVar("A")  # an activity's request
R = TypeVar("R")  # an activity's result
HEARTBEAT = timedelta(seconds=60)


@workflow.defn(name="RecsTrainingWorkflow")
class RecsTrainingWorkflow:
    def __init__(self) -> None:
        self._progress = r.TrainingProgress()

    @workflow.query
    def progress(self) -> r.TrainingProgress:
        return self._progress

    @workflow.run
    async def run(self, req: r.TrainingRequest) -> r.TrainingSummary:
        at = r.TrainAt(self._as_of(req))
        trained = await self._call(defs.train_recs_model, at, TRAIN_TIMEOUT)
        self._progress.version = trained.version
        if trained.version is None:
            promoted, decision = False, f"no candidate: {trained.skipped}"
        else:
            promoted, decision = r.promotion(
                trained.compared_ndcg, trained.serving_ndcg, trained.tolerance
            )
        self._progress.promoted, self._progress.decision = promoted, decision
        if promoted and trained.version is not None:
            self._progress.stage = "promote"
            promote = r.PromoteRequest(trained.version)
            await self._call(defs.promote_recs_model, promote, timedelta(minutes=5))
        self._progress.stage = "precompute"
        precomputed = await self._call(defs.precompute_recs_rows, at, TRAIN_TIMEOUT)
        self._progress.viewers_precomputed = precomputed.viewers
        self._progress.stage = "done"
        return r.TrainingSummary(trained, promoted, decision, precomputed)

    @staticmethod
    async def _call(activity: Callable[[A], R], arg: A, timeout: timedelta) -> R:
        """One activity with the run's heartbeat and retry policy (the same command a
        spelled-out execute_activity issues: replay sees no difference)."""
        return await workflow.execute_activity(
            activity,
            arg,
            start_to_close_timeout=timeout,
            heartbeat_timeout=HEARTBEAT,
            retry_policy=RETRY,
        )

    @staticmethod
    def _as_of(req: r.TrainingRequest) -> str:
        started = workflow.now()
        if req.now is None:
            return started.isoformat()
        try:
            at = datetime.fromisoformat(req.now)
        except ValueError:
            at = None
        if at is None or at.tzinfo is None or at > started:
            raise ApplicationError(
                f"now={req.now!r}: an ISO 8601 instant with its offset, not after the run's start",
                type="BadInstant",
                non_retryable=True,
            )
        return at.isoformat()
