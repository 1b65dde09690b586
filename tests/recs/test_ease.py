"""EASE: the closed form, the items it covers, and neighbours it finds."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from reelflow.recs.ease import Ease, ease_weights, warm_items
from reelflow.recs.interactions import build_dataset


def test_weights_are_the_closed_form_with_zero_diagonal() -> None:
    rng = np.random.default_rng(3)
    dense = (rng.random((30, 6)) < 0.4).astype(np.float64)
    weights = ease_weights(sp.csr_matrix(dense), l2=2.0)
    inverse = np.linalg.inv(dense.T @ dense + 2.0 * np.eye(6))
    expected = np.eye(6) - inverse / np.diag(inverse)
    assert np.allclose(weights, expected, atol=1e-5)
    assert np.allclose(np.diag(weights), 0.0)


def test_warm_items_need_support_and_are_capped_by_popularity() -> None:
    matrix = sp.csr_matrix(np.array([[1, 1, 1, 0], [1, 1, 0, 0], [1, 0, 0, 1]]))
    assert warm_items(matrix, 2, 10).tolist() == [0, 1]
    assert warm_items(matrix, 1, 2).tolist() == [0, 1]  # the two most watched


def test_co_watched_item_comes_first() -> None:
    # x and y are always watched together; z goes with w
    users, items = [], []
    for n in range(10):
        users += [f"p{n}", f"p{n}", f"q{n}", f"q{n}"]
        items += ["x", "y", "z", "w"]
    users.append("new")
    items.append("x")
    data = build_dataset(users, items, list(range(len(users))), [1.0] * len(users))
    model = Ease(l2=1.0, min_support=2)
    model.fit(data)
    scores = model.scores(np.array([data.user_ids.index("new")]))[0]
    assert int(np.argmax(scores)) == data.item_ids.index("y")
