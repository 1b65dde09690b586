"""The one interface every model implements, and top-k ranking over it.

A model is fitted on a training :class:`~reelflow.recs.interactions.Dataset` and then
scores every item of the universe for any of its users; ranking (seen items removed, ties
broken by item order, batches so memory stays bounded) is written once, here. A viewer the
training data does not know gets :meth:`Recommender.anonymous_scores`: by default the items
most watched in training.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from reelflow.recs.interactions import Dataset

BATCH_CELLS = 4_000_000  # users x items of dense float64 scores at a time: 32 MB


def batch_rows(n_items: int) -> int:
    """Users per batch so one batch of dense scores stays near BATCH_CELLS."""
    return max(8, min(1024, BATCH_CELLS // max(1, n_items)))


class Scorer(Protocol):
    def scores(self, users: np.ndarray) -> np.ndarray: ...


class Recommender(ABC):
    """fit once, then score users by index (rows: users, columns: the item universe)."""

    name: str = "model"

    def __init__(self) -> None:
        self._popularity = np.zeros(0)

    def fit(self, train: Dataset) -> None:
        self._popularity = train.item_counts().astype(np.float64)
        self._fit(train)

    @abstractmethod
    def _fit(self, train: Dataset) -> None: ...

    @abstractmethod
    def scores(self, users: np.ndarray) -> np.ndarray:
        """Dense scores, shape (len(users), n_items); higher is better."""

    @abstractmethod
    def settings(self) -> str:
        """The hyper-parameters, for the metrics table."""

    def anonymous_scores(self) -> np.ndarray:
        """Scores for a viewer with no history."""
        return self._popularity


def top_of_scores(scores: np.ndarray, k: int) -> np.ndarray:
    """Row-wise indices of the k best finite scores, best first; -1 pads short rows."""
    n_items = scores.shape[1]
    take = min(k, n_items)
    # argpartition finds the k best without sorting the catalog; those k are then ordered
    # by score, ties by item index, so a ranking is the same on every run.
    part = np.argpartition(-scores, take - 1, axis=1)[:, :take] if take < n_items else None
    cand = part if part is not None else np.tile(np.arange(n_items), (len(scores), 1))
    cand_scores = np.take_along_axis(scores, cand, axis=1)
    order = np.lexsort((cand, -cand_scores), axis=1)[:, :take]
    top = np.take_along_axis(cand, order, axis=1)
    top[~np.isfinite(np.take_along_axis(scores, top, axis=1))] = -1
    return np.pad(top, ((0, 0), (0, k - take)), constant_values=-1)


def top_k(model: Scorer, train: Dataset, users: np.ndarray, k: int) -> np.ndarray:
    """The k best unseen items per user (rows in the order of users, -1 where none is left)."""
    seen = train.seen()
    out = np.full((len(users), k), -1, dtype=np.int64)
    step = batch_rows(train.n_items)
    for start in range(0, len(users), step):
        batch = users[start : start + step]
        scores = np.asarray(model.scores(batch), dtype=np.float64).copy()
        rows, cols = seen[batch].nonzero()
        scores[rows, cols] = -np.inf
        out[start : start + len(batch)] = top_of_scores(scores, k)
    return out


def recommend_ids(
    model: Recommender, train: Dataset, user_ids: Sequence[str], k: int
) -> dict[str, list[str]]:
    """Top-k item ids per user id; a user the training data lacks gets the anonymous list."""
    index = {user: i for i, user in enumerate(train.user_ids)}
    known = [user for user in user_ids if user in index]
    ranked = top_k(model, train, np.array([index[u] for u in known], dtype=np.int64), k)
    anonymous = top_of_scores(np.asarray(model.anonymous_scores(), dtype=np.float64)[None, :], k)[0]
    by_user = dict(zip(known, ranked.tolist(), strict=True))
    return {
        user: [train.item_ids[i] for i in by_user.get(user, anonymous.tolist()) if i >= 0]
        for user in user_ids
    }
