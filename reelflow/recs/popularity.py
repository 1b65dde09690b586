"""Popularity: what most viewers watched, recent watching counting more, by country.

The baseline every recommender must beat, and the list for a viewer nobody knows yet.
Each interaction counts exp(-age * ln 2 / half-life) with its age measured from the newest
interaction in training (no half-life: every interaction counts 1). Where viewers have a
country, a viewer's list is their country's counts shrunk towards the global ones:
count_country + PRIOR * share_global, so a country with little data looks like everyone.
"""

from __future__ import annotations

import numpy as np

from reelflow.recs.interactions import Dataset
from reelflow.recs.recommender import Recommender

DAY = 86_400.0
COUNTRY_PRIOR = 20.0  # pseudo-interactions of the global distribution per country


def recency_weights(times: np.ndarray, now: int, half_life_days: float | None) -> np.ndarray:
    """exp decay by age; ones when there is no half-life."""
    if half_life_days is None:
        return np.ones(len(times))
    age = np.maximum(now - times, 0) / DAY
    return np.exp(-np.log(2.0) * age / half_life_days)


class Popularity(Recommender):
    name = "popularity"

    def __init__(self, half_life_days: float | None = None) -> None:
        super().__init__()
        self.half_life_days = half_life_days
        self._global = np.zeros(0)
        self._by_country: dict[str, np.ndarray] = {}
        self._user_country: list[str | None] = []

    def settings(self) -> str:
        half_life = "none" if self.half_life_days is None else f"{self.half_life_days:g} d"
        return f"recency half-life {half_life}, by country where known"

    def _fit(self, train: Dataset) -> None:
        positive = train.positives()
        now = int(train.times.max()) if len(train.times) else 0
        weights = recency_weights(train.times[positive], now, self.half_life_days)
        items = train.items[positive]
        counts = np.bincount(items, weights=weights, minlength=train.n_items)
        self._global = counts.astype(np.float64)
        share = self._global / max(float(self._global.sum()), 1e-12)
        self._user_country = list(train.countries) or [None] * train.n_users
        self._by_country = {}
        names = sorted({c for c in self._user_country if c})
        code = {name: i for i, name in enumerate(names)}
        per_user = np.array([code.get(c or "", -1) for c in self._user_country], dtype=np.int64)
        of_row = per_user[train.users[positive]]
        for country in names:
            mine = of_row == code[country]
            counts = np.bincount(items[mine], weights=weights[mine], minlength=train.n_items)
            self._by_country[country] = counts + COUNTRY_PRIOR * share

    def scores(self, users: np.ndarray) -> np.ndarray:
        out = np.empty((len(users), len(self._global)))
        for row, user in enumerate(users.tolist()):
            country = self._user_country[user]
            out[row] = self._by_country[country] if country else self._global
        return out

    def anonymous_scores(self) -> np.ndarray:
        return self._global

    def country_scores(self) -> dict[str, np.ndarray]:
        """Each country's scores (those with viewers in training): its trending list."""
        return dict(self._by_country)
