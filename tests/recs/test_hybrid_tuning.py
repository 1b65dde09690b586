"""Tuning the blend sees only a validation split carved from the training data."""

from __future__ import annotations

import numpy as np

from reelflow.recs import hybrid_tuning
from reelflow.recs.hybrid_parts import Blend, HybridParts, fit_parts
from reelflow.recs.interactions import Dataset, build_dataset
from reelflow.recs.split import split
from tests.recs.synthetic import dataset


def test_the_fit_sees_each_viewers_older_training_rows_only() -> None:
    data = dataset(users=24, plays=10)
    train, test = split(data, "time", 0.2)
    fitted_on: list[Dataset] = []

    def fit(inner: Dataset) -> HybridParts:
        fitted_on.append(inner)
        return fit_parts(inner, l2=10.0, min_support=2, max_items=500, trend_half_life_days=30.0)

    best, trials = hybrid_tuning.tune(train, fit, Blend())
    [inner] = fitted_on
    assert len(inner.users) < len(train.users)
    test_pairs = set(zip(test.users.tolist(), test.items.tolist(), strict=True))
    inner_pairs = set(zip(inner.users.tolist(), inner.items.tolist(), strict=True))
    assert not test_pairs & inner_pairs
    for user in range(data.n_users):
        # what tuning validates on is later than what it fits on, and earlier than test
        held = np.setdiff1d(train.times[train.users == user], inner.times[inner.users == user])
        assert inner.times[inner.users == user].max() <= held.min()
        assert held.max() <= test.times[test.users == user].min()
    grid = list(hybrid_tuning.candidates(Blend()))
    assert [t.blend for t in trials] == grid
    assert best == max(trials, key=lambda t: t.ndcg).blend


def test_ties_keep_the_earlier_candidate_and_tiny_data_keeps_the_base() -> None:
    tiny = build_dataset(["a"], ["x"], [1], [1.0])
    base = Blend(content_weight=0.3)
    assert hybrid_tuning.tune(tiny, lambda d: fit_parts(d, 1.0, 1, 10, 30.0), base) == (base, [])


def test_random_validation_holds_out_at_random() -> None:
    data = dataset(users=24, plays=10)
    seen: list[Dataset] = []

    def fit(inner: Dataset) -> HybridParts:
        seen.append(inner)
        return fit_parts(inner, l2=10.0, min_support=2, max_items=500, trend_half_life_days=30.0)

    hybrid_tuning.tune(data, fit, Blend(), "random")
    [inner] = seen
    newest_kept = [
        data.times[data.users == u].max() in inner.times[inner.users == u].tolist()
        for u in range(data.n_users)
    ]
    assert any(newest_kept)  # a time split would never keep a viewer's newest play
