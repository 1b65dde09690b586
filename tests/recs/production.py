"""A small production world for the recommender's tests: titles in the catalog and viewers'
watching in the events store, written by the real log and writer.

GENRES x TITLES_PER_GENRE titles ("doc-3": a Documentary); VIEWERS accounts, each with a
favourite genre (account n: GENRES[n % 3]) of which they finish PLAYS titles, plus one
early abandon elsewhere. Seeded: the same world every run.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import numpy as np
import redis
from sqlalchemy.engine import Engine
from sqlmodel import Session

from reelflow.catalog.models import Title, TitleState
from reelflow.config import Settings
from reelflow.events.log import RedisStreamLog
from reelflow.events.pseudonym import pseudonym_key, viewer_pseudonym
from reelflow.events.schema import Context, StoredEvent, parse_client_event, store
from reelflow.events.writer import EventWriter
from reelflow.storage import store_from_settings

GENRES = {"doc": "Documentary", "com": "Comedy", "dra": "Drama"}
TITLES_PER_GENRE = 10
VIEWERS = 24
PLAYS = 5
DURATION_S = 3600.0
NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)  # the training runs' instant


def account(n: int) -> str:
    return f"acct-{n}"


def favourite(n: int) -> str:
    return list(GENRES)[n % len(GENRES)]


def add_titles(engine: Engine, ids: dict[str, str] | None = None) -> None:
    """Every world title (or just ``ids``: id -> genre name) in the catalog, published."""
    wanted = ids or {
        f"{prefix}-{n}": genre for prefix, genre in GENRES.items() for n in range(TITLES_PER_GENRE)
    }
    with Session(engine) as s:
        for title_id, genre in wanted.items():
            s.add(
                Title(
                    id=title_id,
                    name=title_id.upper(),
                    genres=[genre],
                    duration_s=DURATION_S,
                    state=TitleState.PUBLISHED,
                )
            )
        s.commit()


def viewer_of(settings: Settings, name: str) -> str:
    return viewer_pseudonym(pseudonym_key(settings.secrets().signing_secret), name)


def viewing(viewer: str, title: str, at: datetime, fraction: float) -> list[StoredEvent]:
    """What a player sends for one viewing: progress with the duration, then its end."""
    ctx = Context(viewer=viewer, country="FR", plan="basic", session="s1", device="d1")
    position = DURATION_S * fraction
    bodies = [
        {"type": "progress", "title": title, "position_s": position, "duration_s": DURATION_S},
        {"type": "play_end", "title": title, "position_s": position,
         "reason": "ended" if fraction >= 0.95 else "stopped"},
    ]  # fmt: skip
    return [
        store(
            parse_client_event({"id": str(uuid.uuid4()), "ts": at.isoformat(), **body}),
            ctx,
            now=at + timedelta(seconds=1),
        )
        for body in bodies
    ]


def world_events(settings: Settings, viewers: int = VIEWERS) -> list[StoredEvent]:
    rng = np.random.default_rng(7)
    events: list[StoredEvent] = []
    for n in range(viewers):
        viewer = viewer_of(settings, account(n))
        mine = rng.choice(TITLES_PER_GENRE, size=PLAYS, replace=False).tolist()
        start = NOW - timedelta(days=10, hours=n)
        for step, title in enumerate(mine):
            at = start + timedelta(hours=step)
            events += viewing(viewer, f"{favourite(n)}-{title}", at, 1.0)
        other = list(GENRES)[(n + 1) % len(GENRES)]
        events += viewing(
            viewer, f"{other}-{n % TITLES_PER_GENRE}", start - timedelta(days=1), 0.02
        )
    return events


def write_events(settings: Settings, events: list[StoredEvent]) -> None:
    """Through the real Redis stream and writer into the settings' store."""
    client = redis.Redis.from_url(settings.redis_url)
    log = RedisStreamLog(client, stream=f"test:events:{uuid.uuid4().hex}")
    try:
        log.append(events)
        writer = EventWriter(log, store_from_settings(settings), "w", block_ms=10)
        for _ in range(1000):  # bounded: a few batches at most
            if not writer.step():
                break
    finally:
        client.delete(log.stream)
        client.close()
