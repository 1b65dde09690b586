"""Top-k ranking metrics with binary relevance, as the offline protocol reports them.

Per viewer, given the ranked list of k recommendations (seen items already removed) and
the set of held-out items:
- nDCG@k: sum of 1/log2(rank+1) over hits, divided by the best possible for
  min(|relevant|, k) hits;
- AP@k: sum of precision@rank at each hit, divided by min(|relevant|, k); MAP@k its mean;
- precision@k = hits / k; recall@k = hits / |relevant|.
Over all viewers: catalog coverage (distinct recommended items / candidate items) and
novelty (mean self-information -log2 p of recommended items, p the share of training
users who watched it, smoothed (count + 1) / (users + 1) so an unwatched item is finite).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class Metrics:
    ndcg: float
    map: float
    precision: float
    recall: float
    coverage: float
    novelty: float
    users: int  # viewers evaluated

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def _discounts(k: int) -> np.ndarray:
    return 1.0 / np.log2(np.arange(2, k + 2))


def user_scores(ranked: Sequence[int], relevant: set[int], k: int) -> tuple[float, ...]:
    """(nDCG@k, AP@k, precision@k, recall@k) of one viewer's ranked list."""
    if not relevant:
        raise ValueError("a viewer without held-out items has no ranking metrics")
    hits = np.array([item in relevant for item in list(ranked)[:k]], dtype=np.float64)
    hits = np.pad(hits, (0, k - len(hits)))
    discounts = _discounts(k)
    ideal = discounts[: min(len(relevant), k)].sum()
    precision_at = np.cumsum(hits) / np.arange(1, k + 1)
    return (
        float((hits * discounts).sum() / ideal),
        float((precision_at * hits).sum() / min(len(relevant), k)),
        float(hits.sum() / k),
        float(hits.sum() / len(relevant)),
    )


def novelty(recommended: np.ndarray, item_counts: np.ndarray, n_users: int) -> float:
    """Mean self-information of every recommended item (rows of item indices, -1 for none)."""
    chosen = recommended[recommended >= 0]
    if chosen.size == 0:
        return 0.0
    information = -np.log2((item_counts + 1.0) / (n_users + 1.0))
    return float(information[chosen].mean())


def summarise(
    ranked: np.ndarray,
    relevant: Sequence[set[int]],
    k: int,
    item_counts: np.ndarray,
    n_users: int,
) -> Metrics:
    """Metrics over viewers: ranked is one row of k item indices per viewer (-1 pads a row
    that ran out of candidates), in the order of relevant. Candidate items are those
    item_counts covers (the whole item universe)."""
    per_user = np.array(
        [user_scores(row, rel, k) for row, rel in zip(ranked.tolist(), relevant, strict=True)]
    ).reshape(-1, 4)
    means = per_user.mean(axis=0) if len(per_user) else np.zeros(4)
    distinct = len(np.unique(ranked[ranked >= 0]))
    return Metrics(
        ndcg=float(means[0]),
        map=float(means[1]),
        precision=float(means[2]),
        recall=float(means[3]),
        coverage=distinct / max(1, len(item_counts)),
        novelty=novelty(ranked, item_counts, n_users),
        users=len(per_user),
    )
