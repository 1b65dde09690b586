"""A small trained serving model (synthetic data: four genres, a favourite each), shared by
the artifact, model store and serving tests."""

from __future__ import annotations

from reelflow.recs.hybrid import Hybrid, HybridSettings
from reelflow.recs.interactions import Dataset
from reelflow.recs.popularity import Popularity
from reelflow.recs.serving_model import ServingModel
from tests.recs import synthetic


def serving_model(data: Dataset | None = None) -> ServingModel:
    data = data or synthetic.dataset()
    hybrid = Hybrid(HybridSettings(tune=False))
    hybrid.fit(data)
    popularity = Popularity(half_life_days=30.0)
    popularity.fit(data)
    return ServingModel(
        0, hybrid.parts, hybrid.blend, popularity.anonymous_scores(), popularity.country_scores()
    )
