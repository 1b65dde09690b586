"""Simulated watching for the demo: viewers with a taste for some genres play titles, and
their ``progress`` and ``play_end`` events are written to the events store the way the
events writer leaves them, so the first training run of a fresh demo has a history to learn.

Only the embedded demo calls this (``reelflow demo``); the viewers are pseudonyms that no
account maps to (``demo-viewer-<n>``), so they never meet a real viewer's data. Each viewer
likes one or two genres: a title of a liked genre is played most times and usually to the
end, another one sometimes and usually abandoned early, which is what the hybrid learns
from (interactions.watch_strength).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from reelflow.events.parquet import to_parquet, to_table
from reelflow.events.schema import SCHEMA_VERSION
from reelflow.storage import ObjectStore
from reelflow.storage.layout import event_file_key

DEMO_VIEWER_PREFIX = "demo-viewer-"
_COUNTRIES = ("US", "US", "DE", "FR", "GB")


@dataclass(frozen=True)
class DemoTitle:
    id: str
    genres: tuple[str, ...]
    duration_s: float


def _event(
    type_: str, viewer: str, session: str, title: str, at: datetime, country: str, **fields: Any
) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "type": type_,
        "schema_version": SCHEMA_VERSION,
        "ts": at,
        "server_ts": at,
        "viewer": viewer,
        "device": "demo",
        "session": session,
        "title": title,
        "country": country,
        "plan": "premium",
        "fields": fields,
    }


def _play(
    viewer: str, title: DemoTitle, at: datetime, country: str, finished: bool
) -> list[dict[str, Any]]:
    session = str(uuid.uuid4())
    watched = title.duration_s if finished else round(title.duration_s * 0.15, 3)
    return [
        _event("progress", viewer, session, title.id, at, country, position_s=watched,
               duration_s=title.duration_s),
        _event("play_end", viewer, session, title.id, at + timedelta(seconds=1), country,
               position_s=watched, reason="ended" if finished else "stopped"),
    ]  # fmt: skip


def simulate(
    titles: Sequence[DemoTitle], viewers: int, now: datetime, seed: int = 7
) -> list[dict[str, Any]]:
    """Stored ``progress`` and ``play_end`` records of ``viewers`` over the last two days."""
    rng = np.random.default_rng(seed)
    genres = sorted({g for t in titles for g in t.genres})
    if not titles or not genres:
        return []
    records: list[dict[str, Any]] = []
    for n in range(viewers):
        viewer = f"{DEMO_VIEWER_PREFIX}{n}"
        liked = set(
            rng.choice(genres, size=min(len(genres), int(rng.integers(1, 3))), replace=False)
        )
        country = _COUNTRIES[n % len(_COUNTRIES)]
        for title in titles:
            fan = bool(liked & set(title.genres))
            if rng.random() > (0.8 if fan else 0.15):
                continue
            at = now - timedelta(hours=float(rng.uniform(2, 48)))
            finished = rng.random() < (0.85 if fan else 0.2)
            records.extend(_play(viewer, title, at, country, finished))
    return records


def write(store: ObjectStore, records: Iterable[dict[str, Any]]) -> int:
    """One Parquet file per type and hour of ``server_ts``; returns the files written."""
    hours: dict[tuple[str, datetime], list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        hour = r["server_ts"].astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        hours[(r["type"], hour)].append(r)
    batch = uuid.uuid4().hex[:12]
    for (event_type, hour), rows in hours.items():
        key = event_file_key(event_type, hour, f"demo-{batch}.parquet")
        store.put_bytes(key, to_parquet(to_table(event_type, rows)))
    return len(hours)
