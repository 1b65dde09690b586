"""Recommendation training as control-queue activities: train and store a candidate
(measured against the serving model on the same holdout), promote it, precompute the
active viewers' lists into Redis. Thin over recs/ (event_history, training, model_store,
precompute); each heartbeats on a timer with its step as details (``auto_heartbeat``).

Idempotent enough to retry: a retried training stores another version (versions are
cheap, and only a promoted one serves); promotion rewrites one pointer; precompute
overwrites each viewer's hash.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import redis

from reelflow.activities.deps import Deps
from reelflow.activities.heartbeat import auto_heartbeat, current_progress
from reelflow.activities.payloads import aware_instant
from reelflow.catalog.recs_queries import title_facts
from reelflow.events.queries import EventFiles
from reelflow.lifecycle import activity_defs as defs
from reelflow.lifecycle import recs_training as r
from reelflow.lifecycle.activity_defs import implements
from reelflow.recs.event_history import history_dataset, watched_rows
from reelflow.recs.interactions import Dataset
from reelflow.recs.model_store import ModelStore
from reelflow.recs.precompute import precompute_rows
from reelflow.recs.training import NotEnoughHistory, train_candidate


class RecsTrainingActivities:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.files = EventFiles.from_settings(deps.settings)
        self.models = ModelStore(deps.store)
        self.redis = redis.Redis.from_url(deps.settings.redis_url)  # connects on first use

    def all(self) -> list[Callable[..., Any]]:
        return [self.train_recs_model, self.promote_recs_model, self.precompute_recs_rows]

    def _history(self, now: datetime) -> Dataset:
        since = now - timedelta(days=self.deps.settings.recs_history_days)
        rows = watched_rows(self.files, since, now)
        return history_dataset(rows, title_facts(self.deps.engine))

    @implements(defs.train_recs_model)
    @auto_heartbeat
    def train_recs_model(self, req: r.TrainAt) -> r.TrainResult:
        progress, settings = current_progress(), self.deps.settings
        progress.update("read history")
        data = self._history(aware_instant(req.now))
        progress.update("load serving model")
        serving = self.models.load_serving()
        tolerance = settings.recs_promote_tolerance
        serving_version = serving.version if serving else None
        progress.update("train and evaluate")
        try:
            candidate = train_candidate(data, serving)
        except NotEnoughHistory as exc:
            sizes = (data.n_users, len(data.users))
            return r.TrainResult(
                None, 0.0, serving_version, None, None, tolerance, *sizes, str(exc)
            )
        progress.update("store")
        version = self.models.save(candidate.model, candidate.stored_metrics())
        versus = candidate.versus
        return r.TrainResult(
            version,
            candidate.metrics.ndcg,
            serving_version,
            versus.candidate.ndcg if versus else None,
            versus.serving.ndcg if versus else None,
            tolerance,
            data.n_users,
            len(data.users),
        )

    @implements(defs.promote_recs_model)
    @auto_heartbeat
    def promote_recs_model(self, req: r.PromoteRequest) -> None:
        self.models.promote(req.version)

    @implements(defs.precompute_recs_rows)
    @auto_heartbeat
    def precompute_recs_rows(self, req: r.TrainAt) -> r.PrecomputeResult:
        progress, settings = current_progress(), self.deps.settings
        progress.update("load serving model")
        model = self.models.load_serving()
        if model is None:
            return r.PrecomputeResult(None, 0)
        now = aware_instant(req.now)
        progress.update("read history")
        data = self._history(now)
        active_since = int((now - timedelta(days=settings.recs_active_days)).timestamp())

        def report(done: int) -> None:
            progress.update("precompute", done=done, unit="viewers")

        written = precompute_rows(
            self.redis, model, data, active_since, settings.recs_rows_ttl_s, report
        )
        return r.PrecomputeResult(model.version, written)
