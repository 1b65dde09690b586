"""Offline evaluation: fit each model on the training split, rank for every viewer who has
held-out items, and summarise with the metrics of metrics.py.

Relevant items are a viewer's held-out positive interactions that they had not already
seen in training (seen items are never recommended, so counting them would only lower
every model alike). A viewer counts if they have at least one relevant item.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from reelflow.recs.interactions import Dataset
from reelflow.recs.metrics import Metrics, summarise
from reelflow.recs.recommender import Recommender, Scorer, top_k


def relevant_sets(train: Dataset, test: Dataset) -> tuple[np.ndarray, list[set[int]]]:
    """(viewers to evaluate, their relevant item sets), viewers in index order."""
    positive = test.positives()
    users, items = test.users[positive], test.items[positive]
    already = np.isin(users * test.n_items + items, train.users * train.n_items + train.items)
    by_user: dict[int, set[int]] = {}
    for user, item in zip(users[~already].tolist(), items[~already].tolist(), strict=True):
        by_user.setdefault(user, set()).add(item)
    users = np.array(sorted(by_user), dtype=np.int64)
    return users, [by_user[u] for u in users.tolist()]


def evaluate(model: Scorer, train: Dataset, test: Dataset, k: int = 10) -> Metrics:
    """Metrics of an already fitted model."""
    users, relevant = relevant_sets(train, test)
    ranked = top_k(model, train, users, k)
    return summarise(ranked, relevant, k, train.item_counts(), train.n_users)


@dataclass(frozen=True)
class Result:
    name: str
    settings: str
    fit_seconds: float
    metrics: Metrics


def compare(models: list[Recommender], train: Dataset, test: Dataset, k: int = 10) -> list[Result]:
    """Every model fitted on train and measured on test, in the order given."""
    results = []
    for model in models:
        started = time.perf_counter()
        model.fit(train)
        seconds = time.perf_counter() - started
        metrics = evaluate(model, train, test, k)
        results.append(Result(model.name, model.settings(), seconds, metrics))
    return results
