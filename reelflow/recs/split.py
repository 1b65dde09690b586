"""Holding out what each viewer did last: the offline protocol's train/test split.

Per viewer, interactions are ordered by time and the newest ``test_fraction`` of them
(rounded, at least one) is held out, so nothing a model trains on happens after what it is
asked to predict for that viewer. A viewer with a single interaction stays in training.
``random`` holds out the same number of rows per viewer drawn at random, for comparison.
Validation splits for tuning are carved from a training set the same way, never from test.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from reelflow.recs.interactions import Dataset

SplitKind = Literal["time", "random"]


def _held_out(rows: int, fraction: float) -> int:
    if rows < 2:
        return 0
    return min(rows - 1, max(1, round(rows * fraction)))


def split(
    data: Dataset, kind: SplitKind = "time", test_fraction: float = 0.2, seed: int = 0
) -> tuple[Dataset, Dataset]:
    """(train, test) over the same universes; see the module docstring."""
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test fraction must be between 0 and 1, not {test_fraction}")
    rng = np.random.default_rng(seed)
    # Ties in time are broken by item index, so the split is the same on every run.
    tiebreak = rng.random(len(data.users)) if kind == "random" else data.items
    primary = tiebreak if kind == "random" else data.times
    order = np.lexsort((tiebreak, primary, data.users))
    users = data.users[order]
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
    ends = np.r_[starts[1:], len(order)]
    test = np.zeros(len(order), dtype=bool)
    for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
        held = _held_out(end - start, test_fraction)
        test[order[end - held : end]] = True
    return data.subset(~test), data.subset(test)
