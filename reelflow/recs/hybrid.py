"""reelflow's production recommender: collaborative signals, content and recency in one
score (hybrid_parts.py), its blend tuned on a validation split of its own training data
(hybrid_tuning.py) unless told otherwise.

New titles reach viewers through content (an item with no plays has genres, a decade, a
language and a cast); new viewers get trending titles; a viewer with a few plays gets
EASE neighbours of those plays, the newest counting most.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

import numpy as np

from reelflow.recs.hybrid_parts import Blend, HybridParts, fit_parts
from reelflow.recs.hybrid_tuning import Trial, tune
from reelflow.recs.interactions import Dataset
from reelflow.recs.recommender import Recommender
from reelflow.recs.split import SplitKind


@dataclass(frozen=True)
class HybridSettings:
    l2: float = 500.0  # EASE regularisation
    min_support: int = 3  # viewers an item needs for collaborative weights
    max_items: int = 5000  # items with collaborative weights at most (EASE is cubic)
    trend_half_life_days: float = 30.0
    tune: bool = True  # choose the blend on a validation split of the training data
    # How that validation split holds out: "time" (each viewer's newest, what serving
    # predicts) unless an offline evaluation holds out at random.
    validation: SplitKind = "time"
    blend: Blend = field(default_factory=Blend)


class Hybrid(Recommender):
    name = "hybrid"

    def __init__(self, settings: HybridSettings | None = None) -> None:
        super().__init__()
        self.config = settings or HybridSettings()
        self.blend = self.config.blend
        self.trials: list[Trial] = []
        self._parts: HybridParts | None = None

    def settings(self) -> str:
        how = "tuned on validation" if self.config.tune else "fixed"
        return (
            f"EASE lambda {self.config.l2:g} on items with >= {self.config.min_support} viewers "
            f"+ content + trending ({self.config.trend_half_life_days:g} d); blend {how}: "
            f"{self.blend.describe()}"
        )

    def _fit(self, train: Dataset) -> None:
        fit = partial(
            fit_parts,
            l2=self.config.l2,
            min_support=self.config.min_support,
            max_items=self.config.max_items,
            trend_half_life_days=self.config.trend_half_life_days,
        )
        if self.config.tune:
            self.blend, self.trials = tune(train, fit, self.config.blend, self.config.validation)
        self._parts = fit(train)

    @property
    def parts(self) -> HybridParts:
        """The fitted parts: what a serving model version stores (recs/artifact.py)."""
        return self._fitted()

    def _fitted(self) -> HybridParts:
        if self._parts is None:
            raise RuntimeError("fit the hybrid before asking it for scores")
        return self._parts

    def scores(self, users: np.ndarray) -> np.ndarray:
        return self._fitted().scores(users, self.blend)

    def anonymous_scores(self) -> np.ndarray:
        return self._fitted().trending
