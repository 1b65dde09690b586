from __future__ import annotations

from datetime import timedelta

import pytest

from reelflow.events.log import RedisStreamLog
from reelflow.events.queries import EventFiles, distinct_counts, qoe_cells, watch_history
from reelflow.events.schema import EVENT_TYPES, StoredEvent
from reelflow.events.writer import EventWriter
from reelflow.storage import LocalStore
from tests.events.conftest import NOW, make_event


def test_an_empty_store_counts_zero_for_every_type(files: EventFiles) -> None:
    assert distinct_counts(files) == dict.fromkeys(EVENT_TYPES, 0)


def _write(stream_log: RedisStreamLog, store: LocalStore, events: list[StoredEvent]) -> None:
    stream_log.append(events)
    writer = EventWriter(stream_log, store, "w", block_ms=10)
    while writer.step():
        pass


def test_qoe_cells_deduplicate_and_aggregate(
    stream_log: RedisStreamLog, local_store: LocalStore, files: EventFiles
) -> None:
    beacons = [
        make_event("qoe", title="t1", startup_ms=float(ms), played_ms=9000.0, rebuffer_ms=1000.0)
        for ms in (100, 200, 300, 400)
    ]
    later = make_event("qoe", at=NOW + timedelta(hours=2), title="t2", startup_ms=50.0)
    # Each beacon twice (a retried append): the answer must not change.
    _write(stream_log, local_store, [*beacons, *beacons, later])
    cells = qoe_cells(files, NOW - timedelta(hours=1), NOW + timedelta(hours=1))
    [cell] = cells
    assert (cell.title, cell.country, cell.plan, cell.beacons) == ("t1", "FR", "basic", 4)
    assert cell.startup_p50_ms == pytest.approx(250.0)
    assert cell.startup_p95_ms == pytest.approx(385.0)
    assert cell.rebuffer_ratio == pytest.approx(0.1)
    assert len(qoe_cells(files, NOW, NOW + timedelta(hours=3))) == 2


def test_watch_history_is_per_viewer_newest_first(
    stream_log: RedisStreamLog, local_store: LocalStore, files: EventFiles
) -> None:
    later, end = NOW + timedelta(minutes=5), NOW + timedelta(minutes=9)
    events = [
        make_event("progress", viewer="v_a", title="old", position_s=30.0),
        make_event("progress", viewer="v_a", at=later, title="old", position_s=90.0),
        make_event("play_end", viewer="v_a", at=end, title="new", position_s=600.0, reason="ended"),
        make_event("progress", viewer="v_b", title="other", position_s=5.0),
    ]
    _write(stream_log, local_store, events)
    history = watch_history(files, "v_a")
    assert [(w.title, w.position_s, w.completed) for w in history] == [
        ("new", 600.0, True),
        ("old", 90.0, False),
    ]
