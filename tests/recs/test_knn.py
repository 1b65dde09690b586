"""Item-kNN finds the item watched with the viewer's items."""

from __future__ import annotations

import numpy as np

from reelflow.recs.interactions import build_dataset
from reelflow.recs.knn import ItemKnn


def test_neighbour_of_the_watched_item_scores_highest() -> None:
    users, items = [], []
    for n in range(8):
        users += [f"p{n}", f"p{n}", f"q{n}", f"q{n}", f"q{n}"]
        items += ["x", "y", "z", "w", "v"]
    users.append("new")
    items.append("z")
    data = build_dataset(users, items, list(range(len(users))), [1.0] * len(users))
    model = ItemKnn(neighbours=3)
    model.fit(data)
    scores = model.scores(np.array([data.user_ids.index("new")]))[0]
    best = {data.item_ids[i] for i in np.argsort(-scores)[:3]}
    assert best == {"z", "w", "v"}  # z itself (seen, filtered later) and its two
    assert scores[data.item_ids.index("x")] == 0.0
