"""The fitted pieces of reelflow's hybrid and how they are blended into one score.

score(u, i) = collaborative(u, i) / max_j |collaborative(u, j)|
            + content_weight * cosine(profile(u), features(i))
            + trend_weight * trending(i) / max_j trending(j)

collaborative: EASE item-item weights applied to the viewer's recency-weighted history
(history.py), for items with enough viewers to have weights ("warm"). An item without
them (a new title, or one too few people watched) borrows: cold_weight times the mean of
the collaborative scores of its COLD_NEIGHBOURS nearest warm items by content, so a new
documentary scores like the documentaries this viewer's neighbours watch. Content
(content.py) matches the viewer's taste profile to every item. Dividing by the viewer's
own top score puts the parts on one scale for every viewer, so one set of blend weights
fits viewers with three plays and viewers with three thousand.
trending: popularity with a half-life in days from the newest interaction in training.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from reelflow.recs.content import affinity, content_neighbours, item_features
from reelflow.recs.ease import ease_weights, warm_items
from reelflow.recs.history import recency_history
from reelflow.recs.interactions import Dataset
from reelflow.recs.popularity import recency_weights

COLD_NEIGHBOURS = 20


@dataclass(frozen=True)
class Blend:
    """How the hybrid weighs its parts. The defaults are what tuning chose on a validation
    split of MovieLens training data; they are used as they are when tuning is off.
    cold_weight is not tuned: MovieLens validation was flat from 0 to 0.5 (its content is
    20 genres and a year), and 0.5 is what lets a new title compete on the first day."""

    half_life_plays: float | None = 5.0
    floor: float = 0.05
    content_weight: float = 0.4
    trend_weight: float = 0.05
    cold_weight: float = 0.5

    def describe(self) -> str:
        half_life = "none" if self.half_life_plays is None else f"{self.half_life_plays:g} plays"
        return (
            f"history half-life {half_life} (floor {self.floor:g}), "
            f"content {self.content_weight:g}, trending {self.trend_weight:g}, "
            f"cold items from content neighbours {self.cold_weight:g}"
        )


@dataclass
class HybridParts:
    """Everything fitted once per training set; blends are cheap to change afterwards."""

    data: Dataset
    warm: np.ndarray  # item indices with EASE weights
    weights: np.ndarray  # EASE, warm x warm
    features: sp.csr_matrix  # items x content tokens
    trending: np.ndarray  # items, max 1
    cold: np.ndarray  # item indices without EASE weights
    fill: sp.csr_matrix  # cold x warm: content neighbours, rows summing to 1
    _histories: dict[tuple[float | None, float], sp.csr_matrix] = field(default_factory=dict)

    def history(self, blend: Blend) -> sp.csr_matrix:
        key = (blend.half_life_plays, blend.floor)
        if key not in self._histories:
            self._histories[key] = recency_history(self.data, *key)
        return self._histories[key]

    def components(self, users: np.ndarray, blend: Blend) -> tuple[np.ndarray, np.ndarray]:
        """(collaborative normalised per row, content affinity), each users x items."""
        return self.history_components(self.history(blend)[users], blend)

    def history_components(
        self, history: sp.csr_matrix, blend: Blend
    ) -> tuple[np.ndarray, np.ndarray]:
        """components() of any history rows (rows x items, weighted as history() weighs):
        serving folds a viewer in through this, with no refit."""
        collaborative = np.zeros((history.shape[0], self.data.n_items), dtype=np.float64)
        warm_scores = self._warm_scores(history[:, self.warm].tocsc())
        collaborative[:, self.warm] = warm_scores
        if blend.cold_weight and len(self.cold):
            fill = np.asarray((self.fill @ warm_scores.T).T)
            collaborative[:, self.cold] = blend.cold_weight * fill
        top = np.abs(collaborative).max(axis=1, keepdims=True)
        top[top == 0] = 1.0
        return collaborative / top, affinity(history, self.features)

    def _warm_scores(self, warm_history: sp.csc_matrix) -> np.ndarray:
        """warm_history @ weights over only the columns anyone in it watched: a fold-in of
        a few plays touches a few rows of the EASE matrix, not all of it (scipy's sparse @
        dense would convert the whole matrix to float64 on every call)."""
        used = np.flatnonzero(np.diff(warm_history.indptr))
        weights = self.weights[used].astype(np.float64)
        return np.asarray(warm_history[:, used].toarray() @ weights)

    def scores(self, users: np.ndarray, blend: Blend) -> np.ndarray:
        return self.history_scores(self.history(blend)[users], blend)

    def history_scores(self, history: sp.csr_matrix, blend: Blend) -> np.ndarray:
        collaborative, content = self.history_components(history, blend)
        return collaborative + blend.content_weight * content + blend.trend_weight * self.trending


def fit_parts(
    data: Dataset, l2: float, min_support: int, max_items: int, trend_half_life_days: float
) -> HybridParts:
    binary = data.binary()
    warm = warm_items(binary, min_support, max_items)
    positive = data.positives()
    now = int(data.times.max()) if len(data.times) else 0
    counts = np.bincount(
        data.items[positive],
        weights=recency_weights(data.times[positive], now, trend_half_life_days),
        minlength=data.n_items,
    )
    features = item_features(data.meta)
    cold = np.setdiff1d(np.arange(data.n_items), warm)
    return HybridParts(
        data=data,
        warm=warm,
        weights=ease_weights(binary[:, warm].tocsr(), l2),
        features=features,
        trending=counts / max(float(counts.max()), 1e-12) if len(counts) else counts,
        cold=cold,
        fill=content_neighbours(features, warm, cold, COLD_NEIGHBOURS),
    )
