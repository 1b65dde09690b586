"""Precomputed lists for active viewers, written to Redis at training time.

Active: a play at or after ``active_since`` in the history the model was trained on. Each
viewer's lists come from ``ServingModel.recs`` (the function fold-in uses), for their
newest country, stamped with the newest play in the training history: a viewer whose
catalog progress moved after that is folded in at request time instead (serving.py).
Written in pipelined batches with the TTL; older rows of other viewers simply expire.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import redis

from reelflow.recs.interactions import Dataset
from reelflow.recs.rows_cache import encode_rows, rows_key
from reelflow.recs.serving_model import ServingModel, Viewing

BATCH = 500
# Where a viewer's country is unknown, their trending list is everyone's.
NO_COUNTRY = ""


def active_histories(data: Dataset, active_since: int) -> Iterator[tuple[str, str, list[Viewing]]]:
    """(viewer, country, history) of every viewer with a play at or after active_since."""
    order = np.lexsort((data.times, data.users))
    users = data.users[order]
    if not len(users):
        return
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
    ends = np.r_[starts[1:], len(order)]
    strength = data.strength()
    for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
        rows = order[start:end]
        if int(data.times[rows].max()) < active_since:
            continue
        user = int(data.users[rows[0]])
        country = (data.countries[user] if data.countries else None) or NO_COUNTRY
        history = [
            Viewing(data.item_ids[int(data.items[r])], float(data.times[r]), float(strength[r]))
            for r in rows.tolist()
        ]
        yield data.user_ids[user], country, history


def precompute_rows(
    client: redis.Redis,
    model: ServingModel,
    data: Dataset,
    active_since: int,
    ttl_s: int,
    report: Callable[[int], None] = lambda done: None,
) -> int:
    """Write every active viewer's lists; how many viewers were written."""
    at = float(data.times.max()) if len(data.times) else 0.0
    written = 0
    pipe = client.pipeline(transaction=False)
    for viewer, country, history in active_histories(data, active_since):
        fields = encode_rows(model.recs(history, country), str(model.version), at)
        pipe.hset(rows_key(viewer), mapping=fields)  # type: ignore[arg-type]
        pipe.expire(rows_key(viewer), ttl_s)
        written += 1
        if written % BATCH == 0:
            pipe.execute()
            report(written)
    pipe.execute()
    report(written)
    return written
