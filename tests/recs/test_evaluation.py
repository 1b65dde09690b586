"""Offline evaluation: what counts as relevant, and a model that knows the answers."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from reelflow.recs.evaluation import compare, evaluate, relevant_sets
from reelflow.recs.interactions import Dataset, build_dataset
from reelflow.recs.popularity import Popularity
from reelflow.recs.recommender import Recommender
from reelflow.recs.split import split


class Oracle(Recommender):
    """Scores exactly the held-out items of each user highest."""

    name = "oracle"

    def __init__(self, test: Dataset) -> None:
        super().__init__()
        self.test = test

    def _fit(self, train: Dataset) -> None:
        self.n_items = train.n_items

    def scores(self, users: np.ndarray) -> np.ndarray:
        out = np.zeros((len(users), self.n_items))
        for row, user in enumerate(users.tolist()):
            out[row, self.test.items[self.test.users == user]] = 1.0
        return out

    def settings(self) -> str:
        return "knows the answers"


def test_relevant_items_are_unseen_positive_held_out_rows() -> None:
    data = build_dataset(["a", "b", "a", "b", "a"], list("xxyzw"), [1] * 5, [1.0] * 5)
    train = data.subset(np.isin(data.items, [0]))  # a and b watched x
    x, y, z, w = range(4)
    # held out: a rewatches x (seen: not relevant), a's y and w; b's z with weight 0
    test = replace(
        data,
        users=np.array([0, 0, 1, 0]),
        items=np.array([x, y, z, w]),
        times=np.array([2, 2, 2, 2]),
        weights=np.array([1.0, 1.0, 0.0, 1.0]),
    )
    users, relevant = relevant_sets(train, test)
    assert users.tolist() == [0] and relevant == [{y, w}]  # b has nothing relevant


def test_a_model_that_knows_the_answers_scores_one() -> None:
    users = [f"u{n}" for n in range(5) for _ in range(10)]
    items = [f"i{(n * 3 + j) % 20}" for n in range(5) for j in range(10)]
    data = build_dataset(users, items, list(range(50)), [1.0] * 50)
    train, test = split(data, "time", 0.2)
    oracle = Oracle(test)
    oracle.fit(train)
    metrics = evaluate(oracle, train, test, k=2)
    assert metrics.ndcg == pytest.approx(1.0) and metrics.map == pytest.approx(1.0)
    assert metrics.precision == pytest.approx(1.0) and metrics.recall == pytest.approx(1.0)
    [oracle_row, popular_row] = compare([Oracle(test), Popularity()], train, test, k=2)
    assert oracle_row.name == "oracle" and popular_row.name == "popularity"
    assert popular_row.metrics.ndcg < 1.0 and oracle_row.fit_seconds >= 0.0
