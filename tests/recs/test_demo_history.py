"""The demo's simulated watching: written where the events writer writes, read back by the
training's own query, with fans of a genre watching its titles more and further."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.fs as pafs

from reelflow.events.queries import EventFiles
from reelflow.recs.demo_history import DEMO_VIEWER_PREFIX, DemoTitle, simulate, write
from reelflow.recs.event_history import watched_fraction, watched_rows
from reelflow.storage.local import LocalStore

TITLES = [
    DemoTitle("doc-1", ("Documentary",), 60.0),
    DemoTitle("doc-2", ("Documentary", "Nature"), 60.0),
    DemoTitle("com-1", ("Comedy",), 60.0),
    DemoTitle("com-2", ("Comedy",), 60.0),
]


def test_simulated_viewing_is_read_back_by_the_training_query(tmp_path: Path) -> None:
    now = datetime(2026, 12, 7, 12, tzinfo=UTC)
    records = simulate(TITLES, viewers=200, now=now)
    store = LocalStore(tmp_path)
    assert write(store, records) > 2  # files per type and hour
    files = EventFiles(pafs.LocalFileSystem(), str(tmp_path))
    rows = watched_rows(files, now - timedelta(days=3), now)
    assert {r.viewer.startswith(DEMO_VIEWER_PREFIX) for r in rows} == {True}
    assert {r.title for r in rows} == {t.id for t in TITLES}
    assert len({r.viewer for r in rows}) > 150
    # Someone who watched both documentaries mostly finished them; a mixed taste is rarer.
    by_viewer: dict[str, dict[str, float]] = {}
    for r in rows:
        by_viewer.setdefault(r.viewer, {})[r.title] = watched_fraction(r, 60.0) or 0.0
    docs = [v for v in by_viewer.values() if {"doc-1", "doc-2"} <= v.keys()]
    finished = [f for v in docs for t, f in v.items() if t.startswith("doc")]
    assert docs and sum(f == 1.0 for f in finished) / len(finished) > 0.6


def test_the_same_seed_gives_the_same_history() -> None:
    now = datetime(2026, 12, 7, 12, tzinfo=UTC)
    first = [(r["viewer"], r["title"], r["type"]) for r in simulate(TITLES, 50, now)]
    again = [(r["viewer"], r["title"], r["type"]) for r in simulate(TITLES, 50, now)]
    assert first == again and simulate([], 50, now) == []
