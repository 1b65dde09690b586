"""Item-kNN: cosine similarity between items' viewer sets, each item keeping its K nearest
neighbours (implicit's ``CosineRecommender``); a user's scores are the summed similarities
of the items they watched."""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp

from reelflow.recs.interactions import Dataset
from reelflow.recs.recommender import Recommender


class ItemKnn(Recommender):
    name = "item-knn"

    def __init__(self, neighbours: int = 100) -> None:
        super().__init__()
        self.neighbours = neighbours
        self._history = sp.csr_matrix((0, 0))
        self._similarity = sp.csr_matrix((0, 0))

    def settings(self) -> str:
        return f"cosine, {self.neighbours} neighbours per item"

    def _fit(self, train: Dataset) -> None:
        from implicit.nearest_neighbours import CosineRecommender
        from implicit.utils import ParameterWarning

        self._history = train.binary()
        model = CosineRecommender(K=self.neighbours)
        with warnings.catch_warnings():
            # It converts its own transposed matrix to CSR and says so; nothing to act on.
            warnings.simplefilter("ignore", ParameterWarning)
            model.fit(self._history, show_progress=False)
        self._similarity = sp.csr_matrix(model.similarity)

    def scores(self, users: np.ndarray) -> np.ndarray:
        return np.asarray((self._history[users] @ self._similarity).todense())
