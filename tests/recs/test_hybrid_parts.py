"""The hybrid's score is the documented blend of its parts."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from reelflow.recs.hybrid_parts import Blend, fit_parts
from tests.recs.synthetic import dataset


def test_score_is_normalised_collaborative_plus_weighted_content_and_trending() -> None:
    data = dataset(users=30, plays=10, **{"cold": ("Horror",)})
    parts = fit_parts(data, l2=10.0, min_support=3, max_items=1000, trend_half_life_days=30.0)
    blend = Blend(half_life_plays=3.0, floor=0.05, content_weight=0.3, trend_weight=0.1)
    users = np.arange(data.n_users)
    collaborative, content = parts.components(users, blend)
    assert np.abs(collaborative).max(axis=1) == pytest.approx(np.ones(data.n_users))
    expected = collaborative + 0.3 * content + 0.1 * parts.trending
    assert np.allclose(parts.scores(users, blend), expected)
    assert parts.trending.max() == pytest.approx(1.0)


def test_items_without_collaborative_weights_borrow_their_content_neighbours() -> None:
    data = dataset(users=30, plays=10, **{"cold": ("Horror",)})
    parts = fit_parts(data, l2=10.0, min_support=3, max_items=1000, trend_half_life_days=30.0)
    cold = data.item_ids.index("cold")
    assert cold in parts.cold.tolist() and cold not in parts.warm.tolist()
    row = parts.fill[parts.cold.tolist().index(cold)]
    assert row.sum() == pytest.approx(1.0)
    borrowed = {data.meta.genres[parts.warm[i]] for i in row.indices.tolist()}
    assert borrowed == {("Horror",)}
    users = np.arange(data.n_users)
    with_fill = parts.components(users, Blend(cold_weight=0.5))[0][:, cold]
    without = parts.components(users, Blend(cold_weight=0.0))[0][:, cold]
    assert np.all(without == 0.0) and np.any(with_fill != 0.0)
    assert replace(Blend(), cold_weight=0.0).describe() != Blend().describe()
