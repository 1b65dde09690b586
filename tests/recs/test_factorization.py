"""ALS and BPR through implicit: genre-loyal viewers get their genre, and implicit's BLAS
warning is answered (BLAS single-threaded under implicit's own threads)."""

from __future__ import annotations

import warnings

import implicit.utils
import numpy as np
import pytest

from reelflow.recs.factorization import Als, Bpr
from reelflow.recs.recommender import Recommender, top_k
from tests.recs.synthetic import GENRES, dataset, genre_of


# BPR's stochastic steps need more passes over data this small than over MovieLens.
@pytest.mark.parametrize("model", [Als(iterations=10), Bpr(iterations=200)], ids=["als", "bpr"])
def test_viewers_get_their_favourite_genre(model: Recommender) -> None:
    data = dataset(users=80, plays=12, seed=2)
    implicit.utils._checked_blas_config = False  # it warns once per process: look again
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # its BLAS advice would fail here
        model.fit(data)
    ranked = top_k(model, data, np.arange(data.n_users), 10)
    matches = [
        genre_of(data, item) == GENRES[user % len(GENRES)]
        for user, row in enumerate(ranked.tolist())
        for item in row
    ]
    assert np.mean(matches) > 0.6  # 4 genres: 0.25 by chance
