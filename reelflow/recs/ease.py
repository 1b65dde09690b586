"""EASE (Steck, "Embarrassingly Shallow Autoencoders", WWW 2019): item-item weights in
closed form, the strongest simple baseline on MovieLens-sized data.

B = I - P diagDiag(1/diag(P)) with P = (X^T X + lambda I)^-1, diag(B) = 0; a user's scores
are x_u B. The inverse is cubic in the number of items, so only items with at least
``min_support`` viewers (at most ``max_items``, the most watched) get weights: an item two
people watched has no item-item signal to learn, and the rest score 0.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp

from reelflow.recs.interactions import Dataset
from reelflow.recs.recommender import Recommender


def warm_items(matrix: sp.csr_matrix, min_support: int, max_items: int) -> np.ndarray:
    """Items with at least min_support users, the max_items most watched, in index order."""
    support = np.asarray((matrix > 0).sum(axis=0)).ravel()
    eligible = np.flatnonzero(support >= min_support)
    if len(eligible) > max_items:
        eligible = eligible[np.argsort(-support[eligible], kind="stable")[:max_items]]
    return np.sort(eligible)


def ease_weights(matrix: sp.csr_matrix, l2: float) -> np.ndarray:
    """The EASE item-item matrix for the columns of matrix (float32, zero diagonal)."""
    gram = (matrix.T @ matrix).toarray().astype(np.float64)
    gram[np.diag_indices_from(gram)] += l2
    inverse = sla.inv(gram, overwrite_a=True, check_finite=False)
    weights = inverse / -np.diag(inverse)
    weights[np.diag_indices_from(weights)] = 0.0
    return weights.astype(np.float32)


class Ease(Recommender):
    name = "ease"

    def __init__(self, l2: float = 500.0, min_support: int = 3, max_items: int = 5000) -> None:
        super().__init__()
        self.l2, self.min_support, self.max_items = l2, min_support, max_items
        self._items = np.zeros(0, dtype=np.int64)
        self._weights = np.zeros((0, 0), dtype=np.float32)
        self._history = sp.csr_matrix((0, 0))
        self._n_items = 0

    def settings(self) -> str:
        return f"lambda {self.l2:g}, items with >= {self.min_support} viewers (<= {self.max_items})"

    def _fit(self, train: Dataset) -> None:
        matrix = train.binary()
        self._items = warm_items(matrix, self.min_support, self.max_items)
        self._history = matrix[:, self._items].tocsr()
        self._weights = ease_weights(self._history, self.l2)
        self._n_items = train.n_items

    def scores(self, users: np.ndarray) -> np.ndarray:
        out = np.zeros((len(users), self._n_items), dtype=np.float32)
        out[:, self._items] = self._history[users] @ self._weights
        return out
