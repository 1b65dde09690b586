"""The viewer's own recency: the newest plays weigh most."""

from __future__ import annotations

import pytest

from reelflow.recs.history import places_from_newest, recency_history
from reelflow.recs.interactions import build_dataset


def test_places_count_back_from_each_viewers_newest() -> None:
    data = build_dataset(["a", "b", "a", "a"], ["x", "x", "y", "z"], [10, 5, 30, 20], [1.0] * 4)
    places = dict(
        zip(
            zip(data.users.tolist(), data.items.tolist(), strict=True),
            places_from_newest(data).tolist(),
            strict=True,
        )
    )
    x, y, z = (data.item_ids.index(i) for i in "xyz")
    assert places == {(0, y): 0, (0, z): 1, (0, x): 2, (1, x): 0}


def test_weights_halve_per_half_life_above_the_floor_times_strength() -> None:
    data = build_dataset(["a"] * 3, ["x", "y", "z"], [1, 2, 3], [0.5, 1.0, 0.0])
    weights = recency_history(data, half_life_plays=1.0, floor=0.1).toarray()[0]
    x, y, z = (data.item_ids.index(i) for i in "xyz")
    # z (newest) has weight 0: no evidence; y is 1 place back, x 2 places back at strength 0.5
    assert weights[z] == 0.0
    assert weights[y] == pytest.approx(0.1 + 0.5)
    assert weights[x] == pytest.approx((0.1 + 0.25) * 0.5)
    flat = recency_history(data, half_life_plays=None, floor=0.1).toarray()[0]
    assert flat[y] == pytest.approx(1.0) and flat[x] == pytest.approx(0.5)
