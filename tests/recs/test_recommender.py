"""Ranking over any model: seen items never come back, ties have one order, lists run out
cleanly, and a viewer the data does not know gets the anonymous list."""

from __future__ import annotations

import numpy as np

from reelflow.recs.interactions import Dataset, build_dataset
from reelflow.recs.recommender import Recommender, recommend_ids, top_k, top_of_scores


class Fixed(Recommender):
    """Scores given by hand (item index order), the same for every user."""

    name = "fixed"

    def __init__(self, scores: list[float]) -> None:
        super().__init__()
        self.fixed = np.array(scores)

    def _fit(self, train: Dataset) -> None:
        pass

    def scores(self, users: np.ndarray) -> np.ndarray:
        return np.tile(self.fixed, (len(users), 1))

    def settings(self) -> str:
        return "by hand"


def test_top_of_scores_orders_by_score_then_index_and_pads() -> None:
    scores = np.array([[0.5, 0.9, 0.5, -np.inf], [1.0, 2.0, 3.0, 4.0]])
    assert top_of_scores(scores, 3).tolist() == [[1, 0, 2], [3, 2, 1]]
    assert top_of_scores(scores, 5).tolist() == [[1, 0, 2, -1, -1], [3, 2, 1, 0, -1]]


def test_top_k_never_returns_a_seen_item() -> None:
    data = build_dataset(["a", "a", "b"], ["x", "y", "z"], [1, 2, 3], [1.0, 0.0, 1.0])
    model = Fixed([3.0, 2.0, 1.0])  # x, y, z
    model.fit(data)
    ranked = top_k(model, data, np.array([0, 1]), 3)
    # a saw x and y (y with weight 0: seen all the same), b saw z
    assert ranked.tolist() == [[2, -1, -1], [0, 1, -1]]


def test_unknown_users_get_the_anonymous_list_without_seen_filtering() -> None:
    data = build_dataset(["a", "b", "c"], ["x", "x", "y"], [1, 2, 3], [1.0, 1.0, 1.0])
    model = Fixed([0.0, 1.0])
    model.fit(data)
    chosen = recommend_ids(model, data, ["a", "stranger", "c"], 2)
    assert chosen == {"a": ["y"], "stranger": ["x", "y"], "c": ["x"]}  # popularity: x first
