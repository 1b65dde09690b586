"""The dataset: universes, duplicate plays, weight scales and the watching signal."""

from __future__ import annotations

import numpy as np
import pytest

from reelflow.recs.interactions import ItemCatalog, build_dataset, watch_strength


def test_watch_strength_reads_completions_abandons_and_thumbs() -> None:
    assert watch_strength(0.95, None) == 1.0  # completed (credits skipped)
    assert watch_strength(0.05, None) == pytest.approx(0.1)  # early abandon: weak
    assert 0.1 < watch_strength(0.4, None) < watch_strength(0.7, None) < 1.0
    assert watch_strength(0.05, 1) == 1.0  # a thumb up outweighs the abandon
    assert watch_strength(1.0, -1) == 0.0  # a thumb down: seen, no evidence
    assert watch_strength(None, None) == 1.0


def test_catalog_items_join_the_universe_before_any_play() -> None:
    catalog = ItemCatalog(("new", "x"), ("New", "X"), (("Drama",), ()), (2020, None),
                          (None, None), ((), ()))  # fmt: skip
    data = build_dataset(["a"], ["x"], [10], [1.0], catalog)
    assert data.item_ids == ("new", "x")
    assert data.meta.genres[0] == ("Drama",) and np.isnan(data.meta.years[1])
    assert data.item_counts().tolist() == [0, 1]  # "new" is a cold-start candidate


def test_a_pair_met_twice_keeps_its_latest_time_and_strongest_weight() -> None:
    data = build_dataset(["a", "a", "a"], ["x", "x", "y"], [5, 9, 7], [4.0, 2.0, 1.0])
    x = data.item_ids.index("x")
    row = np.flatnonzero(data.items == x)
    assert len(row) == 1
    assert data.times[row].tolist() == [9] and data.weights[row].tolist() == [4.0]


def test_strength_scales_ratings_and_keeps_fractions() -> None:
    ratings = build_dataset(["a", "a"], ["x", "y"], [1, 2], [5.0, 2.5])
    assert ratings.strength().tolist() == [1.0, 0.5]
    fractions = build_dataset(["a", "a"], ["x", "y"], [1, 2], [0.3, 0.0])
    assert fractions.strength().tolist() == [0.3, 0.0]
    # a zero weight is seen but is no positive
    assert fractions.seen().nnz == 2 and fractions.binary().nnz == 1


def test_countries_follow_users() -> None:
    data = build_dataset(["a", "b"], ["x", "x"], [1, 2], [1.0, 1.0], countries={"b": "FR"})
    assert data.countries == (None, "FR")
