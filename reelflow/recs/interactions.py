"""Who watched what, when and how much: the one table every model trains on.

A :class:`Dataset` holds interactions as index arrays over fixed universes of users and
items. The item universe is every item that was watched *or* is in the catalog: an item
nobody has watched yet is a cold-start candidate, not an unknown. Splits keep the
universes, so indices mean the same thing in training and test data.

Watching is the signal. :func:`watch_strength` turns what a viewer did with a title into
one number in [0, 1]; the models read :meth:`Dataset.strength`, which brings any weight
scale (star ratings, watched fractions) into the same range.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import scipy.sparse as sp

# Watching facts, from reelflow's own events: most of a title watched counts as a
# completion (credits are skipped), a start left within its first minutes of a feature is
# an early abandon: a sample, not a preference.
COMPLETED_FRACTION = 0.9
EARLY_ABANDON_FRACTION = 0.1
ABANDON_STRENGTH = 0.1


def watch_strength(watched_fraction: float | None, thumb: int | None) -> float:
    """How much one viewing says the viewer liked the title, in [0, 1].

    An explicit thumb decides (down is 0: seen, never recommended again, no evidence for
    similar titles; up is 1). Otherwise a completion is 1, an early abandon a weak 0.1,
    and anything between grows with the fraction watched.
    """
    if thumb is not None and thumb < 0:
        return 0.0
    if thumb is not None and thumb > 0:
        return 1.0
    if watched_fraction is None:
        return 1.0
    if watched_fraction >= COMPLETED_FRACTION:
        return 1.0
    if watched_fraction < EARLY_ABANDON_FRACTION:
        return ABANDON_STRENGTH
    return 0.3 + 0.7 * watched_fraction / COMPLETED_FRACTION


@dataclass(frozen=True)
class ItemMeta:
    """Catalog facts per item of the universe (empty where unknown)."""

    titles: tuple[str, ...]
    genres: tuple[tuple[str, ...], ...]
    years: np.ndarray  # float, NaN where unknown
    languages: tuple[str | None, ...]
    cast: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Dataset:
    """Interactions over fixed user and item universes (one row per user and item)."""

    user_ids: tuple[str, ...]
    item_ids: tuple[str, ...]
    users: np.ndarray  # int64 index into user_ids
    items: np.ndarray  # int64 index into item_ids
    times: np.ndarray  # int64 Unix seconds
    weights: np.ndarray  # float64, >= 0
    meta: ItemMeta
    countries: tuple[str | None, ...] = field(default=())  # per user, () when none known

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def subset(self, mask: np.ndarray) -> Dataset:
        """The rows where mask is true, over the same universes."""
        return replace(
            self,
            users=self.users[mask],
            items=self.items[mask],
            times=self.times[mask],
            weights=self.weights[mask],
        )

    def strength(self) -> np.ndarray:
        """Weights brought into [0, 1]: a scale above 1 (star ratings) is divided by its
        maximum, so the best rating is 1 like a completed title."""
        top = float(self.weights.max()) if len(self.weights) else 1.0
        return np.clip(self.weights / top if top > 1.0 else self.weights, 0.0, 1.0)

    def positives(self) -> np.ndarray:
        """Mask of the rows that say something good about the item (strength > 0)."""
        return self.strength() > 0

    def seen(self) -> sp.csr_matrix:
        """Users x items, 1 where the user has any row (positive or not)."""
        ones = np.ones(len(self.users), dtype=np.float32)
        return self._matrix(ones, np.ones(len(self.users), dtype=bool))

    def binary(self) -> sp.csr_matrix:
        """Users x items, 1 where the user has a positive row: what the baselines train on."""
        ones = np.ones(len(self.users), dtype=np.float32)
        return self._matrix(ones, self.positives())

    def _matrix(self, values: np.ndarray, mask: np.ndarray) -> sp.csr_matrix:
        shape = (self.n_users, self.n_items)
        return sp.csr_matrix((values[mask], (self.users[mask], self.items[mask])), shape=shape)

    def item_counts(self) -> np.ndarray:
        """Users with a positive row per item."""
        return np.bincount(self.items[self.positives()], minlength=self.n_items)


def _dedupe(
    users: np.ndarray, items: np.ndarray, times: np.ndarray, weights: np.ndarray, n_items: int
) -> tuple[np.ndarray, np.ndarray]:
    """One row per (user, item): the index of its latest row (a rewatch moves it forward)
    and the strongest weight it had."""
    if not len(users):  # a store with no watching yet: reduceat needs one row
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
    order = np.lexsort((times, items, users))
    pair = users[order] * n_items + items[order]
    starts = np.flatnonzero(np.r_[True, pair[1:] != pair[:-1]])
    latest = order[np.r_[starts[1:], len(order)] - 1]
    return latest, np.maximum.reduceat(weights[order], starts)


def build_dataset(
    users: Sequence[str],
    items: Sequence[str],
    times: Sequence[int],
    weights: Sequence[float],
    catalog: ItemCatalog | None = None,
    countries: dict[str, str] | None = None,
) -> Dataset:
    """A dataset from parallel columns. A (user, item) pair met twice keeps its latest time
    and its strongest weight. Items: every catalog item first, then any other item seen."""
    item_ids = list(catalog.ids) if catalog else []
    item_index = {item: i for i, item in enumerate(item_ids)}
    for item in items:
        if item not in item_index:
            item_index[item] = len(item_ids)
            item_ids.append(item)
    user_index: dict[str, int] = {}
    for user in users:
        user_index.setdefault(user, len(user_index))
    u = np.fromiter((user_index[x] for x in users), dtype=np.int64, count=len(users))
    i = np.fromiter((item_index[x] for x in items), dtype=np.int64, count=len(items))
    t = np.asarray(times, dtype=np.int64)
    w = np.asarray(weights, dtype=np.float64)
    keep, w_kept = _dedupe(u, i, t, w, len(item_ids))
    user_ids = tuple(user_index)
    by_user = countries or {}
    return Dataset(
        user_ids=user_ids,
        item_ids=tuple(item_ids),
        users=u[keep],
        items=i[keep],
        times=t[keep],
        weights=w_kept,
        meta=(catalog or ItemCatalog.empty()).aligned(item_ids),
        countries=tuple(by_user.get(x) for x in user_ids) if by_user else (),
    )


@dataclass(frozen=True)
class ItemCatalog:
    """Item metadata by id, before it is aligned with a dataset's item universe."""

    ids: tuple[str, ...]
    titles: tuple[str, ...]
    genres: tuple[tuple[str, ...], ...]
    years: tuple[int | None, ...]
    languages: tuple[str | None, ...]
    cast: tuple[tuple[str, ...], ...]

    @classmethod
    def empty(cls) -> ItemCatalog:
        return cls((), (), (), (), (), ())

    def aligned(self, item_ids: Sequence[str]) -> ItemMeta:
        """The metadata in the order of item_ids (empty facts for items it lacks)."""
        where = {item: i for i, item in enumerate(self.ids)}
        rows = [where.get(item) for item in item_ids]
        return ItemMeta(
            titles=tuple(self.titles[r] if r is not None else "" for r in rows),
            genres=tuple(self.genres[r] if r is not None else () for r in rows),
            years=np.array(
                [np.nan if r is None or self.years[r] is None else self.years[r] for r in rows],
                dtype=np.float64,
            ),
            languages=tuple(self.languages[r] if r is not None else None for r in rows),
            cast=tuple(self.cast[r] if r is not None else () for r in rows),
        )
