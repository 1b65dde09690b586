"""Production training: a candidate hybrid, measured against the serving model on the same
recent holdout, and the model that serves if it is promoted.

The holdout is each viewer's newest interactions (split.py, "time", HOLDOUT_FRACTION): what
serving predicts. The candidate is fitted (and its blend tuned) on the rest; the serving
model is not refitted: it folds the same training histories in (serving_model.py) and is
scored on the same held-out plays, over its own item universe (a title it has never heard
of scores nothing). The model that is stored is then fitted on everything, the newest plays
included, with the blend the evaluation chose (no second tuning).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import scipy.sparse as sp

from reelflow.recs.evaluation import evaluate
from reelflow.recs.history import recency_history
from reelflow.recs.hybrid import Hybrid, HybridSettings
from reelflow.recs.interactions import Dataset
from reelflow.recs.metrics import Metrics
from reelflow.recs.popularity import Popularity
from reelflow.recs.serving_model import ServingModel
from reelflow.recs.split import split

HOLDOUT_FRACTION = 0.2
K = 10


class NotEnoughHistory(ValueError):
    """No viewer has a held-out play to measure a model on."""


class ServingScorer:
    """A stored model as a Scorer over another dataset's universes: each user's training
    history folded in, scores mapped back to that dataset's items."""

    def __init__(self, model: ServingModel, train: Dataset) -> None:
        self.model = model
        index = {item: i for i, item in enumerate(model.item_ids)}
        mapped = np.array([index.get(item, -1) for item in train.item_ids], dtype=np.int64)
        self.known = np.flatnonzero(mapped >= 0)
        self.mapped = mapped[self.known]
        shape = (train.n_items, len(model.item_ids))
        ones = np.ones(len(self.known))
        self.to_model = sp.csr_matrix((ones, (self.known, self.mapped)), shape=shape)
        blend = model.blend
        self.history = recency_history(train, blend.half_life_plays, blend.floor)
        self.n_items = train.n_items

    def scores(self, users: np.ndarray) -> np.ndarray:
        rows = sp.csr_matrix(self.history[users] @ self.to_model)
        scored = self.model.parts.history_scores(rows, self.model.blend)
        out = np.full((len(users), self.n_items), -np.inf)
        out[:, self.known] = scored[:, self.mapped]
        return out


@dataclass(frozen=True)
class Candidate:
    model: ServingModel  # fitted on everything; version 0 until stored
    metrics: Metrics  # on the holdout
    serving_metrics: Metrics | None  # the serving model's on the same holdout
    facts: dict[str, Any]  # sizes and timings, stored with the version's metrics

    def stored_metrics(self, serving_version: int | None) -> dict[str, Any]:
        out: dict[str, Any] = {
            f"{k}_at_{K}" if k in {"ndcg", "map", "precision", "recall"} else k: v
            for k, v in self.metrics.as_dict().items()
        }
        out["compared_with"] = serving_version
        out["serving_ndcg_at_10"] = self.serving_metrics.ndcg if self.serving_metrics else None
        return {**out, **self.facts}


def train_candidate(
    data: Dataset, serving: ServingModel | None, settings: HybridSettings | None = None
) -> Candidate:
    started = time.perf_counter()
    settings = settings or HybridSettings()
    train, test = split(data, "time", HOLDOUT_FRACTION)
    if not len(test.users):
        raise NotEnoughHistory("no viewer has two plays: nothing to hold out and measure")
    measured = Hybrid(settings)
    measured.fit(train)
    metrics = evaluate(measured, train, test, K)
    serving_metrics = evaluate(ServingScorer(serving, train), train, test, K) if serving else None
    final = Hybrid(replace(settings, tune=False, blend=measured.blend))
    final.fit(data)
    popularity = Popularity(half_life_days=settings.trend_half_life_days)
    popularity.fit(data)
    model = ServingModel(
        0, final.parts, final.blend, popularity.anonymous_scores(), popularity.country_scores()
    )
    facts = {
        "viewers": data.n_users,
        "items": data.n_items,
        "interactions": len(data.users),
        "newest_play": int(data.times.max()),
        "blend": final.blend.describe(),
        "train_seconds": round(time.perf_counter() - started, 3),
    }
    return Candidate(model, metrics, serving_metrics, facts)
