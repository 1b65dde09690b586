"""Production training: a candidate hybrid, measured against the serving model on the same
recent holdout, and the model that serves if it is promoted.

The holdout is each viewer's newest interactions (split.py, "time", HOLDOUT_FRACTION): what
serving predicts. The candidate is fitted (and its blend tuned) on the rest; the serving
model is not refitted: it folds the same training histories in (serving_model.py). Both
are scored on the same plays: the held-out ones newer than the serving model's training
(one it learned from would flatter it), over each model's own item universe (a title the
serving model has never heard of scores nothing for it). With no such play (nothing new
since it was trained) there is no evidence either way, and the candidate, which knows the
newer catalog, is promoted. The model that is stored is then fitted on everything, the newest plays
included, with the blend the evaluation chose (no second tuning).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import scipy.sparse as sp

from reelflow.recs.evaluation import evaluate, relevant_sets
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
class Versus:
    """The candidate and the serving model on the same plays: the held-out ones newer than
    anything the serving model was trained on (a play it learned from would flatter it)."""

    candidate: Metrics
    serving: Metrics
    serving_version: int


@dataclass(frozen=True)
class Candidate:
    model: ServingModel  # fitted on everything; version 0 until stored
    metrics: Metrics  # on the whole holdout
    versus: Versus | None  # None: no serving model, or no held-out play newer than it
    facts: dict[str, Any]  # sizes and timings, stored with the version's metrics

    def stored_metrics(self) -> dict[str, Any]:
        out: dict[str, Any] = {_name(k): v for k, v in self.metrics.as_dict().items()}
        versus = self.versus
        out["compared_with"] = versus.serving_version if versus else None
        out["compared_ndcg_at_10"] = versus.candidate.ndcg if versus else None
        out["serving_ndcg_at_10"] = versus.serving.ndcg if versus else None
        out["compared_viewers"] = versus.candidate.users if versus else 0
        return {**out, **self.facts}


def _name(metric: str) -> str:
    return f"{metric}_at_{K}" if metric in {"ndcg", "map", "precision", "recall"} else metric


def _versus(
    model: Hybrid, serving: ServingModel | None, train: Dataset, test: Dataset
) -> Versus | None:
    if serving is None:
        return None
    fresh = test.subset(test.times > serving.trained_until)
    if not len(relevant_sets(train, fresh)[0]):
        return None
    return Versus(
        evaluate(model, train, fresh, K),
        evaluate(ServingScorer(serving, train), train, fresh, K),
        serving.version,
    )


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
    versus = _versus(measured, serving, train, test)
    final = Hybrid(replace(settings, tune=False, blend=measured.blend))
    final.fit(data)
    popularity = Popularity(half_life_days=settings.trend_half_life_days)
    popularity.fit(data)
    newest = int(data.times.max())
    model = ServingModel(
        0,
        final.parts,
        final.blend,
        popularity.anonymous_scores(),
        popularity.country_scores(),
        trained_until=newest,
    )
    facts = {
        "viewers": data.n_users,
        "items": data.n_items,
        "interactions": len(data.users),
        "newest_play": newest,
        "blend": final.blend.describe(),
        "train_seconds": round(time.perf_counter() - started, 3),
    }
    return Candidate(model, metrics, versus, facts)
