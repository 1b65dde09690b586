"""Watch history from the events store (real writer, real Parquet, DuckDB) into the Dataset
production training reads, with every catalog title as an item."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from reelflow.catalog.db import make_engine, upgrade
from reelflow.catalog.recs_queries import title_facts
from reelflow.config import Settings
from reelflow.events.privacy import ANONYMOUS
from reelflow.events.queries import EventFiles
from reelflow.events.schema import Context, parse_client_event, store
from reelflow.recs.event_history import history_dataset, watched_rows
from reelflow.recs.interactions import ABANDON_STRENGTH
from tests.recs.production import NOW, add_titles, viewing, write_events


@pytest.fixture
def settings(tmp_path: Path, redis_url: str) -> Settings:
    s = Settings(home=tmp_path / "state", redis_url=redis_url)
    s.ensure_home()
    upgrade(s.resolved_database_url)
    return s


def _thumb(viewer: str, title: str, rating: str, minutes: int) -> object:
    at = NOW - timedelta(days=1) + timedelta(minutes=minutes)
    body = {"id": str(uuid.uuid4()), "type": "thumb", "ts": at.isoformat()}
    ctx = Context(viewer=viewer, country="de", plan="basic", session="s1", device="d1")
    return store(parse_client_event({**body, "title": title, "rating": rating}), ctx, now=at)


def test_watching_becomes_strengths_per_viewer_and_title(settings: Settings) -> None:
    engine = make_engine(settings.resolved_database_url)
    add_titles(engine, {"doc-1": "Documentary", "doc-2": "Documentary", "com-1": "Comedy"})
    day = NOW - timedelta(days=2)
    events = [
        *viewing("v_a", "doc-1", day, 1.0),  # finished
        *viewing("v_a", "doc-2", day + timedelta(hours=1), 0.5),  # half
        *viewing("v_a", "doc-2", day + timedelta(hours=2), 0.2),  # a rewatch: furthest counts
        *viewing("v_b", "doc-1", day, 0.03),  # an early abandon
        *viewing(ANONYMOUS, "doc-1", day, 1.0),  # an opted-out viewer's, anonymised: left out
        *viewing("v_c", "doc-2", day, 0.04),  # abandoned, then thumbed up
        _thumb("v_c", "doc-2", "up", 0),
        _thumb("v_b", "com-1", "down", 0),  # rated without a play
        *viewing("v_a", "com-1", NOW + timedelta(hours=1), 1.0),  # after the window
    ]
    write_events(settings, events)  # type: ignore[arg-type]
    files = EventFiles.from_settings(settings)
    rows = watched_rows(files, NOW - timedelta(days=30), NOW)
    data = history_dataset(rows, title_facts(engine))

    assert data.item_ids == ("com-1", "doc-1", "doc-2")  # catalog titles, watched or not
    got = {
        (data.user_ids[u], data.item_ids[i]): w
        for u, i, w in zip(data.users, data.items, data.weights, strict=True)
    }
    assert got[("v_a", "doc-1")] == 1.0
    assert got[("v_a", "doc-2")] == pytest.approx(0.3 + 0.7 * 0.5 / 0.9)
    assert got[("v_b", "doc-1")] == ABANDON_STRENGTH
    assert got[("v_c", "doc-2")] == 1.0  # the thumb decides
    assert got[("v_b", "com-1")] == 0.0  # down: seen, never liked
    assert ("v_a", "com-1") not in got and ANONYMOUS not in data.user_ids
    countries = dict(zip(data.user_ids, data.countries, strict=True))
    assert countries == {"v_a": "FR", "v_b": "DE", "v_c": "DE"}  # the newest event's
