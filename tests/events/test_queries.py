from __future__ import annotations

from datetime import datetime, timedelta
from types import SimpleNamespace

import pyarrow.fs as pafs
import pytest

from reelflow.events.log import RedisStreamLog
from reelflow.events.maintenance import Partition, compact
from reelflow.events.queries import (
    EventFiles,
    distinct_counts,
    qoe_cells_table,
    watch_history,
)
from reelflow.events.schema import EVENT_TYPES, StoredEvent
from reelflow.events.writer import EventWriter
from reelflow.storage import LocalStore, ObjectStore
from tests.events.conftest import NOW, make_event
from tests.services import S3Server
from tests.storage.support import s3_store

HOUR = NOW.replace(minute=0, second=0, microsecond=0)


def test_an_empty_store_counts_zero_for_every_type(files: EventFiles) -> None:
    assert distinct_counts(files) == dict.fromkeys(EVENT_TYPES, 0)


def _write(stream_log: RedisStreamLog, store: ObjectStore, events: list[StoredEvent]) -> None:
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


def test_a_compacted_hour_with_a_late_duplicate_still_counts_once(
    stream_log: RedisStreamLog, local_store: LocalStore, files: EventFiles
) -> None:
    events = [make_event("search", query=f"q{i}") for i in range(20)]
    _write(stream_log, local_store, events)
    assert compact(local_store, Partition("search", HOUR)) == (1, 20)
    # A successor rewrites an event of that hour after compaction (a reclaimed entry).
    _write(stream_log, local_store, [events[3]])
    assert len(list(local_store.list("events/type=search/"))) == 2
    assert distinct_counts(files)["search"] == 20


def test_queries_read_an_s3_store_through_pyarrow(
    stream_log: RedisStreamLog, seaweed: S3Server
) -> None:
    s3 = s3_store(seaweed.endpoint)
    _write(stream_log, s3, [make_event("qoe", title="t1", startup_ms=100.0) for _ in range(3)])
    _write(stream_log, s3, [make_event("search", query="x")])
    fs = pafs.S3FileSystem(
        access_key="testing", secret_key="testing", endpoint_override=seaweed.endpoint,
        scheme="http", region="us-east-1",
    )  # fmt: skip
    files = EventFiles(fs, s3.bucket)
    counts = distinct_counts(files)
    assert (counts["qoe"], counts["search"], counts["progress"]) == (3, 1, 0)
    [cell] = qoe_cells(files, NOW - timedelta(hours=1), NOW + timedelta(hours=1))
    assert cell.beacons == 3 and cell.startup_p50_ms == 100.0


def qoe_cells(files: EventFiles, since: datetime, until: datetime) -> list[SimpleNamespace]:
    return [SimpleNamespace(**row) for row in qoe_cells_table(files, since, until).to_pylist()]
