"""The serving model: one trained version of the hybrid (plus the popularity lists), and
the one function that turns a viewer's history into their lists (``ViewerRecs``).

Precompute (training time, history from the events store) and fold-in (request time,
history from the catalog's viewing progress) both call :meth:`ServingModel.recs`, so a
viewer's rows mean the same whichever path made them. Fold-in is the hybrid's equivalent
of ALS fold-in: its score is a function of a history vector (``HybridParts.history_scores``)
with the trained weights fixed, so a viewer unknown to the model is scored from their plays
without refitting anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from reelflow.recs.history import recency_history
from reelflow.recs.hybrid_parts import Blend, HybridParts
from reelflow.recs.interactions import Dataset
from reelflow.recs.recommender import top_of_scores
from reelflow.recs.viewer_recs import (
    BECAUSE_ANCHORS,
    LIST_LENGTH,
    RECS_MODELS,
    Because,
    RecsModel,
    ViewerRecs,
)

# A play this weak (an early abandon) is no anchor for "Because you watched".
ANCHOR_MIN_STRENGTH = 0.5


@dataclass(frozen=True)
class Viewing:
    """One title in a viewer's history: when they last watched it and how much it says."""

    title: str
    at: float  # Unix seconds
    strength: float  # interactions.watch_strength, in [0, 1]


@dataclass
class ServingModel:
    version: int
    parts: HybridParts  # parts.data: the item universe and its metadata, no interactions
    blend: Blend
    popularity: np.ndarray  # every item, recency-weighted plays everywhere
    by_country: dict[str, np.ndarray]  # per country with viewers in training
    trained_until: int = 0  # Unix seconds of the newest play it was trained on
    _index: dict[str, int] = field(default_factory=dict, init=False, repr=False)
    _trending: dict[str, tuple[str, ...]] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self._index = {item: i for i, item in enumerate(self.item_ids)}

    @property
    def item_ids(self) -> tuple[str, ...]:
        return self.parts.data.item_ids

    def trending_scores(self, country: str) -> np.ndarray:
        return self.by_country.get(country.upper(), self.popularity)

    def trending(self, country: str) -> tuple[str, ...]:
        """The country's trending titles (everyone's where the country had no viewers)."""
        key = country.upper()
        if key not in self._trending:
            scores = self.trending_scores(key)[None, :]
            self._trending[key] = self._top(scores, np.zeros(0, dtype=np.int64))[0]
        return self._trending[key]

    def recs(self, history: Sequence[Viewing], country: str) -> dict[RecsModel, ViewerRecs]:
        """The viewer's lists for every model (see viewer_recs.py): the hybrid's scores are
        computed once, the popularity variant differs in its top picks only. A viewer none of
        whose titles the model knows is a stranger: trending, genres by trending."""
        known = [v for v in history if v.title in self._index]
        trending = self.trending(country)
        if not known:
            # No history to score: both models' top picks are what is trending here.
            genres = _genre_order(self, self.trending_scores(country.upper()))
            return {m: self._lists(m, trending, (), genres, trending) for m in RECS_MODELS}
        seen = np.array([self._index[v.title] for v in known], dtype=np.int64)
        row = self._history_row(known)
        anchors = _anchors(known)
        rows = sp.vstack([row, self._one_hots([self._index[a] for a in anchors])]).tocsr()
        scores = np.vstack(
            [self.parts.history_scores(rows, self.blend), self.trending_scores(country.upper())]
        )
        ranked = self._top(scores, seen)
        because = tuple(
            Because(anchor, ranked[1 + n]) for n, anchor in enumerate(anchors) if ranked[1 + n]
        )
        genres = _genre_order(self, np.asarray(row.todense()).ravel())
        return {
            "hybrid": self._lists("hybrid", ranked[0], because, genres, trending),
            "popularity": self._lists("popularity", ranked[-1], because, genres, trending),
        }

    def _lists(
        self,
        model: RecsModel,
        top: tuple[str, ...],
        because: tuple[Because, ...],
        genres: tuple[str, ...],
        trending: tuple[str, ...],
    ) -> ViewerRecs:
        version = str(self.version)
        return ViewerRecs(model, version, top, because, genres, trending, folded_in=False)

    def _history_row(self, known: Sequence[Viewing]) -> sp.csr_matrix:
        """1 x items, weighted as training weighs a viewer's history (history.py)."""
        one = Dataset(
            user_ids=("viewer",),
            item_ids=self.item_ids,
            users=np.zeros(len(known), dtype=np.int64),
            items=np.array([self._index[v.title] for v in known], dtype=np.int64),
            times=np.array([int(v.at) for v in known], dtype=np.int64),
            weights=np.array([v.strength for v in known], dtype=np.float64),
            meta=self.parts.data.meta,
        )
        return recency_history(one, self.blend.half_life_plays, self.blend.floor)

    def _one_hots(self, items: list[int]) -> sp.csr_matrix:
        ones = np.ones(len(items))
        rows = np.arange(len(items))
        return sp.csr_matrix((ones, (rows, items)), shape=(len(items), len(self.item_ids)))

    def _top(self, scores: np.ndarray, seen: np.ndarray) -> list[tuple[str, ...]]:
        scores = np.array(scores, dtype=np.float64)
        scores[:, seen] = -np.inf
        ids = self.item_ids
        return [tuple(ids[i] for i in row if i >= 0) for row in top_of_scores(scores, LIST_LENGTH)]


def _anchors(known: Sequence[Viewing]) -> list[str]:
    """Up to BECAUSE_ANCHORS titles the viewer liked, newest first."""
    liked = sorted((v for v in known if v.strength >= ANCHOR_MIN_STRENGTH), key=lambda v: -v.at)
    return [v.title for v in liked[:BECAUSE_ANCHORS]]


def _genre_order(model: ServingModel, weights: np.ndarray) -> tuple[str, ...]:
    """Genre names by the weight of the items carrying them, strongest first (then by name);
    only genres with some weight."""
    totals: dict[str, float] = {}
    genres = model.parts.data.meta.genres
    for item in np.flatnonzero(weights > 0).tolist():
        for genre in genres[item]:
            totals[genre] = totals.get(genre, 0.0) + float(weights[item])
    return tuple(sorted(totals, key=lambda g: (-totals[g], g)))
