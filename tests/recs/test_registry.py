"""Every model behind the one interface: fitted on the same data, each returns k unseen
items for every viewer, and its settings for the table."""

from __future__ import annotations

import numpy as np
import pytest

from reelflow.recs.recommender import top_k
from reelflow.recs.registry import BASELINES, MODELS, PRODUCTION, make
from tests.recs.synthetic import dataset


@pytest.mark.parametrize("name", list(MODELS))
def test_each_model_returns_k_unseen_items(name: str) -> None:
    data = dataset(users=40, plays=12)
    model = make(name)
    model.fit(data)
    users = np.arange(data.n_users)
    ranked = top_k(model, data, users, 10)
    seen = data.seen()
    assert ranked.shape == (data.n_users, 10)
    assert (ranked >= 0).all()
    for user, row in zip(users.tolist(), ranked.tolist(), strict=True):
        assert len(set(row)) == 10
        assert not any(seen[user, item] for item in row)
    assert model.settings() and model.name == name
    assert model.anonymous_scores().shape == (data.n_items,)


def test_names() -> None:
    assert PRODUCTION == "hybrid" and PRODUCTION not in BASELINES
    with pytest.raises(ValueError, match="unknown model 'nope'"):
        make("nope")


def test_the_hybrid_validates_the_way_the_evaluation_tests() -> None:
    from reelflow.recs.hybrid import Hybrid

    timed, shuffled = make("hybrid"), make("hybrid", "random")
    assert isinstance(timed, Hybrid) and isinstance(shuffled, Hybrid)
    assert (timed.config.validation, shuffled.config.validation) == ("time", "random")
