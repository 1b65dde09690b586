"""reelflow's hybrid: new titles reach the viewers whose taste they match, a viewer with
three plays gets recommendations that follow them, and a stranger gets what is trending."""

from __future__ import annotations

import numpy as np
import pytest

from reelflow.recs.hybrid import Hybrid, HybridSettings
from reelflow.recs.interactions import build_dataset
from reelflow.recs.recommender import recommend_ids, top_k
from tests.recs.synthetic import GENRES, START, catalog, item_id, rows

DOC = GENRES.index("Documentary")


@pytest.fixture(scope="module")
def fitted() -> tuple[Hybrid, object]:
    users, items, times, weights = rows(users=60, plays=12, seed=3)
    # a documentary fan who has seen 20 of the 25, and a horror newcomer with three plays
    for n in range(20):
        users.append("fan")
        items.append(item_id(DOC, n))
        times.append(START + 10**6 + n)
        weights.append(5.0)
    for n in range(3):
        users.append("newcomer")
        items.append(item_id(GENRES.index("Horror"), n))
        times.append(START + 10**6 + n)
        weights.append(4.0)
    extra = {"new-doc": ("Documentary",), "new-comedy": ("Comedy",)}
    data = build_dataset(users, items, times, weights, catalog(extra))
    model = Hybrid()
    model.fit(data)
    return model, data


def test_a_cold_start_title_reaches_the_viewers_its_genres_match(fitted) -> None:  # type: ignore[no-untyped-def]
    model, data = fitted
    chosen = recommend_ids(model, data, ["fan", "u1"], 10)  # u1 likes comedy
    assert "new-doc" in chosen["fan"]
    assert "new-doc" not in chosen["u1"]
    assert "new-comedy" not in chosen["fan"]


def test_three_plays_shape_the_list(fitted) -> None:  # type: ignore[no-untyped-def]
    model, data = fitted
    user = data.user_ids.index("newcomer")
    ranked = top_k(model, data, np.array([user]), 10)[0]
    horror = sum(data.meta.genres[i] == ("Horror",) for i in ranked.tolist())
    assert horror >= 8  # a list that reflects the three horror plays


def test_a_stranger_gets_the_trending_list(fitted) -> None:  # type: ignore[no-untyped-def]
    model, data = fitted
    stranger = recommend_ids(model, data, ["nobody"], 5)["nobody"]
    trending = np.argsort(-model.anonymous_scores(), kind="stable")[:5]
    assert stranger == [data.item_ids[i] for i in trending.tolist()]
    assert model.anonymous_scores().max() == pytest.approx(1.0)


def test_tuning_chooses_a_blend_and_can_be_switched_off(fitted) -> None:  # type: ignore[no-untyped-def]
    model, data = fitted
    assert model.trials and model.blend in [t.blend for t in model.trials]
    assert model.blend == max(model.trials, key=lambda t: t.ndcg).blend
    fixed = Hybrid(HybridSettings(tune=False))
    fixed.fit(data)
    assert fixed.trials == [] and fixed.blend == HybridSettings().blend
    assert "fixed" in fixed.settings() and "tuned on validation" in model.settings()


def test_scores_before_fit_are_refused() -> None:
    with pytest.raises(RuntimeError, match="fit the hybrid"):
        Hybrid().scores(np.array([0]))
