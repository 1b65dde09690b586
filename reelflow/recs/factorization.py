"""Implicit-feedback matrix factorisation from the ``implicit`` library: ALS (Hu, Koren and
Volinsky 2008) and BPR (Rendle et al. 2009), on its CPU code paths.

implicit runs its own threads (``num_threads``, 0 = one per core) and asks that BLAS not
start a pool of its own underneath them; fitting happens inside
``threadpool_limits(1, "blas")`` for that, which is also what silences its warning.
Seeds are fixed so a table can be reproduced.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from reelflow.recs.interactions import Dataset
from reelflow.recs.recommender import Recommender

SEED = 7


def _fit_implicit(build: Callable[[], Any], matrix: sp.csr_matrix) -> Any:
    # implicit checks the BLAS pool when a model is built, and trains in fit: both inside.
    with threadpool_limits(limits=1, user_api="blas"):
        model = build()
        model.fit(matrix.astype(np.float32).tocsr(), show_progress=False)
    return model


class _Factors(Recommender):
    def __init__(self) -> None:
        super().__init__()
        self._users = np.zeros((0, 0), dtype=np.float32)
        self._items = np.zeros((0, 0), dtype=np.float32)

    def _keep(self, model: Any) -> None:
        # implicit's CPU models hold plain numpy factors; copies keep no reference to it.
        self._users = np.asarray(model.user_factors, dtype=np.float32)
        self._items = np.asarray(model.item_factors, dtype=np.float32)

    def scores(self, users: np.ndarray) -> np.ndarray:
        return self._users[users] @ self._items.T


class Als(_Factors):
    name = "als"

    def __init__(
        self,
        factors: int = 32,
        regularization: float = 0.01,
        alpha: float = 1.0,
        iterations: int = 15,
        threads: int = 0,
    ) -> None:
        super().__init__()
        self.factors, self.regularization, self.alpha = factors, regularization, alpha
        self.iterations, self.threads = iterations, threads

    def settings(self) -> str:
        return (
            f"{self.factors} factors, reg {self.regularization:g}, alpha {self.alpha:g}, "
            f"{self.iterations} iterations, binary confidence"
        )

    def _fit(self, train: Dataset) -> None:
        from implicit.cpu.als import AlternatingLeastSquares

        def build() -> Any:
            return AlternatingLeastSquares(
                factors=self.factors,
                regularization=self.regularization,
                alpha=self.alpha,
                iterations=self.iterations,
                random_state=SEED,
                num_threads=self.threads,
                calculate_training_loss=False,
            )

        self._keep(_fit_implicit(build, train.binary()))


class Bpr(_Factors):
    name = "bpr"

    def __init__(
        self,
        factors: int = 64,
        learning_rate: float = 0.005,
        regularization: float = 0.01,
        iterations: int = 100,
        threads: int = 0,
    ) -> None:
        super().__init__()
        self.factors, self.learning_rate = factors, learning_rate
        self.regularization, self.iterations, self.threads = regularization, iterations, threads

    def settings(self) -> str:
        return (
            f"{self.factors} factors, lr {self.learning_rate:g}, "
            f"reg {self.regularization:g}, {self.iterations} iterations"
        )

    def _fit(self, train: Dataset) -> None:
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        def build() -> Any:
            return BayesianPersonalizedRanking(
                factors=self.factors,
                learning_rate=self.learning_rate,
                regularization=self.regularization,
                iterations=self.iterations,
                random_state=SEED,
                num_threads=self.threads,
            )

        self._keep(_fit_implicit(build, train.binary()))
