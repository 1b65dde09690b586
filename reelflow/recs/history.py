"""The viewer's own recency: a viewer's latest plays say most about what they want next.

Each of a viewer's interactions is weighted by its place counted back from their newest
one: floor + 0.5 ** (place / half_life), so with a half-life of 5 plays the newest counts
1 + floor, the fifth newest 0.5 + floor, and the oldest never drops below the floor (old
tastes still count a little). Places, not seconds: viewers watch in bursts months apart,
and what they watched last is what they will continue from. It is multiplied by the
interaction's strength (a completion counts more than an abandon).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from reelflow.recs.interactions import Dataset


def places_from_newest(data: Dataset) -> np.ndarray:
    """Per row: 0 for the user's newest interaction, 1 for the one before, and so on."""
    order = np.lexsort((-data.items, -data.times, data.users))
    users = data.users[order]
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
    first_of_run = np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    places = np.empty(len(order), dtype=np.int64)
    places[order] = np.arange(len(order)) - first_of_run
    return places


def recency_history(data: Dataset, half_life_plays: float | None, floor: float) -> sp.csr_matrix:
    """Users x items weights of each viewer's positive interactions (see module docstring);
    no half-life weights every play 1 (times its strength)."""
    positive = data.positives()
    if half_life_plays is None:
        decay = np.ones(len(data.users))
    else:
        decay = floor + 0.5 ** (places_from_newest(data) / half_life_plays)
    values = (decay * data.strength())[positive]
    shape = (data.n_users, data.n_items)
    return sp.csr_matrix((values, (data.users[positive], data.items[positive])), shape=shape)
