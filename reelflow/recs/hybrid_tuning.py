"""Choosing the hybrid's blend on data it is allowed to see: a validation split carved from
its own training set (the newest 20% of each viewer's training interactions, the same
protocol as the test split), never the test split.

The pieces are fitted once on the inner training part; every candidate blend then only
re-weights them, so a grid costs one EASE fit plus a few matrix products. The grid is
small on purpose: a coarse choice that holds across datasets beats a fine one that
learned the validation set's noise. Ties go to the earlier (simpler) candidate.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import numpy as np

from reelflow.recs.evaluation import relevant_sets
from reelflow.recs.hybrid_parts import Blend, HybridParts
from reelflow.recs.interactions import Dataset
from reelflow.recs.metrics import user_scores
from reelflow.recs.recommender import batch_rows, top_of_scores
from reelflow.recs.split import SplitKind, split

HALF_LIVES: tuple[float | None, ...] = (None, 2.0, 5.0, 15.0)
CONTENT_WEIGHTS = (0.0, 0.1, 0.2, 0.4, 0.8)
TREND_WEIGHTS = (0.0, 0.05, 0.2)
MAX_VALIDATION_USERS = 3000  # enough to rank blends; bounds the cost on big data
VALIDATION_FRACTION = 0.2


@dataclass(frozen=True)
class Trial:
    blend: Blend
    ndcg: float


def candidates(base: Blend) -> Iterator[Blend]:
    for half_life, content, trend in itertools.product(HALF_LIVES, CONTENT_WEIGHTS, TREND_WEIGHTS):
        yield replace(base, half_life_plays=half_life, content_weight=content, trend_weight=trend)


def _sample(users: np.ndarray, relevant: list[set[int]]) -> tuple[np.ndarray, list[set[int]]]:
    if len(users) <= MAX_VALIDATION_USERS:
        return users, relevant
    chosen = np.sort(np.random.default_rng(0).choice(len(users), MAX_VALIDATION_USERS, False))
    return users[chosen], [relevant[i] for i in chosen.tolist()]


def trials(
    parts: HybridParts,
    validation_users: np.ndarray,
    relevant: list[set[int]],
    base: Blend,
    k: int = 10,
) -> list[Trial]:
    """nDCG@k of every candidate blend on the validation viewers."""
    totals: dict[Blend, float] = {}
    seen = parts.data.seen()
    step = batch_rows(parts.data.n_items)
    for start in range(0, len(validation_users), step):
        batch = validation_users[start : start + step]
        wanted = relevant[start : start + step]
        rows, cols = seen[batch].nonzero()
        pieces: dict[tuple[float | None, float], tuple[np.ndarray, np.ndarray]] = {}
        for blend in candidates(base):
            key = (blend.half_life_plays, blend.floor)
            if key not in pieces:
                pieces[key] = parts.components(batch, blend)
            collaborative, content = pieces[key]
            scores = (
                collaborative + blend.content_weight * content + blend.trend_weight * parts.trending
            )
            scores[rows, cols] = -np.inf
            ranked = top_of_scores(scores, k)
            pairs = zip(ranked.tolist(), wanted, strict=True)
            gained = sum(user_scores(row, rel, k)[0] for row, rel in pairs)
            totals[blend] = totals.get(blend, 0.0) + gained
    count = max(1, len(validation_users))
    return [Trial(blend, total / count) for blend, total in totals.items()]


def tune(
    train: Dataset, fit: Callable[[Dataset], HybridParts], base: Blend, kind: SplitKind = "time"
) -> tuple[Blend, list[Trial]]:
    """The best blend on a validation split of train, and every trial (base alone when train
    is too small to hold anything out)."""
    inner, validation = split(train, kind, VALIDATION_FRACTION)
    users, relevant = relevant_sets(inner, validation)
    if len(users) == 0:
        return base, []
    users, relevant = _sample(users, relevant)
    results = trials(fit(inner), users, relevant, base)
    best = results[0]
    for trial in results[1:]:
        if trial.ndcg > best.ndcg + 1e-12:
            best = trial
    return best.blend, results
