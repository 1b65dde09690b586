"""Content features: tokens from the catalog, TF-IDF rows, and taste matching."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from reelflow.recs.content import affinity, item_features, item_tokens
from reelflow.recs.interactions import ItemCatalog


def meta(rows: list[tuple[str, tuple[str, ...], int | None, str | None, tuple[str, ...]]]):  # type: ignore[no-untyped-def]
    catalog = ItemCatalog(
        tuple(r[0] for r in rows),
        tuple(r[0] for r in rows),
        tuple(r[1] for r in rows),
        tuple(r[2] for r in rows),
        tuple(r[3] for r in rows),
        tuple(r[4] for r in rows),
    )
    return catalog.aligned(catalog.ids)


def test_tokens_and_rare_cast() -> None:
    m = meta(
        [
            ("a", ("Drama", "War"), 1995, "fr", ("Binoche", "Once")),
            ("b", ("Drama",), None, None, ("Binoche",)),
            ("c", (), None, None, ()),
        ]
    )
    assert item_tokens(m, 0) == [
        "genre:drama", "genre:war", "decade:1990", "language:fr", "cast:binoche", "cast:once",
    ]  # fmt: skip
    features = item_features(m)
    # "cast:once" is on one title only: no column; "c" has no metadata: a zero row
    assert features.shape[1] == 5
    norms = np.sqrt(np.asarray(features.multiply(features).sum(axis=1)).ravel())
    assert norms.tolist() == pytest.approx([1.0, 1.0, 0.0])


def test_profile_prefers_items_of_the_watched_genre() -> None:
    m = meta(
        [
            ("h1", ("Horror",), 1980, None, ()),
            ("h2", ("Horror",), 1980, None, ()),
            ("c1", ("Comedy",), 1980, None, ()),
            ("new", ("Horror",), 2020, None, ()),
        ]
    )
    features = item_features(m)
    history = sp.csr_matrix(np.array([[1.0, 1.0, 0.0, 0.0]]))  # watched both horrors
    scores = affinity(history, features)[0]
    assert scores[3] > scores[2]  # the unwatched new horror beats the comedy
    assert scores[0] == pytest.approx(scores[1])
