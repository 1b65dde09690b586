"""The held-out part is each viewer's newest interactions: nothing in training is later."""

from __future__ import annotations

import numpy as np
import pytest

from reelflow.recs.interactions import build_dataset
from reelflow.recs.split import split
from tests.recs.synthetic import dataset


def test_time_split_holds_out_each_viewers_newest_fifth() -> None:
    data = dataset(users=30, plays=10)
    train, test = split(data, "time", 0.2)
    assert len(train.users) + len(test.users) == len(data.users)
    for user in range(data.n_users):
        held = test.times[test.users == user]
        kept = train.times[train.users == user]
        assert len(held) == 2 and len(kept) == 8
        assert kept.max() <= held.min()  # no future leakage into training
    assert train.user_ids == data.user_ids and train.item_ids == data.item_ids


def test_ties_in_time_split_the_same_way_every_run() -> None:
    data = build_dataset(["a"] * 4, ["w", "x", "y", "z"], [5, 5, 5, 5], [1.0] * 4)
    first = split(data, "time", 0.5)[1].items.tolist()
    assert first == split(data, "time", 0.5)[1].items.tolist()
    assert len(first) == 2


def test_a_single_interaction_stays_in_training_and_one_is_always_held_out() -> None:
    data = build_dataset(["a", "b", "b"], ["x", "x", "y"], [1, 1, 2], [1.0] * 3)
    train, test = split(data, "time", 0.01)
    assert test.users.tolist() == [1] and test.items.tolist() == [1]  # b's newest only
    assert sorted(train.users.tolist()) == [0, 1]


def test_random_split_is_seeded_and_keeps_counts() -> None:
    data = dataset(users=20, plays=10)
    a = split(data, "random", 0.3, seed=4)[1]
    b = split(data, "random", 0.3, seed=4)[1]
    c = split(data, "random", 0.3, seed=5)[1]
    assert np.array_equal(a.items, b.items)
    assert not np.array_equal(np.sort(a.items), np.sort(c.items))
    assert np.bincount(a.users).tolist() == [3] * 20


def test_fraction_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        split(dataset(users=2), "time", 1.0)
