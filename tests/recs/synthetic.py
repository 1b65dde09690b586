"""Small synthetic watching histories with a known structure, for fast model tests.

GENRES genres of ITEMS_PER_GENRE items each (item "g<genre>-<n>", years spread over
decades); every user has a favourite genre and watches mostly its items, in a random
order over time, with a few plays elsewhere. Seeded: the same data every run.
"""

from __future__ import annotations

import numpy as np

from reelflow.recs.interactions import Dataset, ItemCatalog, build_dataset

GENRES = ("Drama", "Comedy", "Horror", "Documentary")
ITEMS_PER_GENRE = 25
START = 1_600_000_000  # Unix seconds


def item_id(genre: int, n: int) -> str:
    return f"g{genre}-{n}"


def catalog(extra: dict[str, tuple[str, ...]] | None = None) -> ItemCatalog:
    """Every generated item, plus extra items (id -> genres) nobody watched."""
    ids, genres, years = [], [], []
    for g, name in enumerate(GENRES):
        for n in range(ITEMS_PER_GENRE):
            ids.append(item_id(g, n))
            genres.append((name,))
            years.append(1960 + 10 * (n % 6))
    for item, tags in (extra or {}).items():
        ids.append(item)
        genres.append(tags)
        years.append(2020)
    count = len(ids)
    return ItemCatalog(
        tuple(ids), tuple(ids), tuple(genres), tuple(years), (None,) * count, ((),) * count
    )


def rows(
    users: int = 60, plays: int = 15, seed: int = 1
) -> tuple[list[str], list[str], list[int], list[float]]:
    rng = np.random.default_rng(seed)
    u, i, t, w = [], [], [], []
    for user in range(users):
        favourite = user % len(GENRES)
        own = rng.choice(ITEMS_PER_GENRE, size=plays, replace=False)
        for step, n in enumerate(own.tolist()):
            genre = favourite if rng.random() < 0.85 else int(rng.integers(len(GENRES)))
            u.append(f"u{user}")
            i.append(item_id(genre, n))
            t.append(START + user * 10 + step * 3600)
            w.append(float(rng.integers(1, 6)))
    return u, i, t, w


def dataset(users: int = 60, plays: int = 15, seed: int = 1, **kw: tuple[str, ...]) -> Dataset:
    """The generated rows with the catalog (kw: extra unwatched items, id -> genres)."""
    return build_dataset(*rows(users, plays, seed), catalog(dict(kw) if kw else None))


def genre_of(data: Dataset, item: int) -> str:
    return data.meta.genres[item][0]
