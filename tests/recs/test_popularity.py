"""Popularity: counts, recency weighting and countries."""

from __future__ import annotations

import numpy as np
import pytest

from reelflow.recs.interactions import build_dataset
from reelflow.recs.popularity import Popularity, recency_weights

DAY = 86_400


def test_recency_weights_halve_per_half_life() -> None:
    weights = recency_weights(np.array([100 * DAY, 90 * DAY, 80 * DAY]), 100 * DAY, 10.0)
    assert weights.tolist() == pytest.approx([1.0, 0.5, 0.25])
    assert recency_weights(np.array([0, 5]), 5, None).tolist() == [1.0, 1.0]


def test_recent_watching_outranks_old_watching() -> None:
    # "old" was watched by three people a year ago, "new" by two this week
    users = ["a", "b", "c", "d", "e"]
    items = ["old", "old", "old", "new", "new"]
    times = [0, 0, 0, 365 * DAY, 365 * DAY]
    data = build_dataset(users, items, times, [1.0] * 5)
    plain, recent = Popularity(), Popularity(half_life_days=30.0)
    plain.fit(data)
    recent.fit(data)
    old, new = data.item_ids.index("old"), data.item_ids.index("new")
    assert plain.anonymous_scores()[old] > plain.anonymous_scores()[new]
    assert recent.anonymous_scores()[new] > recent.anonymous_scores()[old]


def test_a_country_sees_its_own_favourites() -> None:
    users = [f"fr{n}" for n in range(30)] + [f"us{n}" for n in range(50)]
    items = ["amelie"] * 30 + ["rocky"] * 50
    countries = {u: u[:2].upper() for u in users}
    data = build_dataset(users, items, list(range(80)), [1.0] * 80, countries=countries)
    model = Popularity()
    model.fit(data)
    amelie, rocky = data.item_ids.index("amelie"), data.item_ids.index("rocky")
    french, american = model.scores(np.array([0, 30]))
    assert french[amelie] > french[rocky]
    assert american[rocky] > american[amelie]
    assert model.anonymous_scores()[rocky] > model.anonymous_scores()[amelie]  # everyone
