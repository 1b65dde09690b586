"""The models the offline table compares, by name, with the settings the table reports.

Baselines use tuned-but-standard settings: the values chosen by ``bench/recs.py --tune``
on a validation split carved from MovieLens training data (docs/recommendations.md).
"""

from __future__ import annotations

from collections.abc import Callable

from reelflow.recs.ease import Ease
from reelflow.recs.factorization import Als, Bpr
from reelflow.recs.hybrid import Hybrid, HybridSettings
from reelflow.recs.knn import ItemKnn
from reelflow.recs.popularity import Popularity
from reelflow.recs.recommender import Recommender
from reelflow.recs.split import SplitKind

PRODUCTION = "hybrid"
MODELS: dict[str, Callable[[], Recommender]] = {
    "popularity": Popularity,
    "item-knn": ItemKnn,
    "ease": Ease,
    "als": Als,
    "bpr": Bpr,
    PRODUCTION: Hybrid,
}
BASELINES = tuple(name for name in MODELS if name != PRODUCTION)


def make(name: str, validation: SplitKind = "time") -> Recommender:
    """A model with its table settings; the hybrid tunes on a validation split held out the
    way the evaluation's test split is (each viewer's newest, or at random)."""
    if name == PRODUCTION:
        return Hybrid(HybridSettings(validation=validation))
    try:
        return MODELS[name]()
    except KeyError:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(MODELS)}") from None
