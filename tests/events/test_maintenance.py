from __future__ import annotations

import io
from datetime import timedelta

import pyarrow.parquet as pq

from reelflow.events.log import RedisStreamLog
from reelflow.events.maintenance import (
    COMPACTED_NAME,
    Partition,
    compact,
    erase_viewer_files,
    expire,
)
from reelflow.events.parquet import to_parquet
from reelflow.events.queries import EventFiles, distinct_counts, viewer_events
from reelflow.events.schema import StoredEvent
from reelflow.events.writer import EventWriter
from reelflow.storage import LocalStore
from tests.events.conftest import NOW, make_event

HOUR = NOW.replace(minute=0, second=0, microsecond=0)


def _write_in_batches(
    stream_log: RedisStreamLog, store: LocalStore, events: list[StoredEvent], batch: int
) -> None:
    writer = EventWriter(stream_log, store, "w", batch=batch, block_ms=10)
    stream_log.append(events)
    while writer.step():
        pass


def test_compaction_leaves_one_file_one_row_per_id(
    stream_log: RedisStreamLog, local_store: LocalStore, files: EventFiles
) -> None:
    events = [make_event("search", query=f"q{i}") for i in range(40)]
    _write_in_batches(stream_log, local_store, [*events, *events[:10]], batch=7)
    part = Partition("search", HOUR)
    before = list(local_store.list("events/type=search/"))
    assert len(before) == 8
    assert compact(local_store, part) == (8, 40)
    [after] = list(local_store.list("events/type=search/"))
    assert after.key.endswith("/" + COMPACTED_NAME)
    assert distinct_counts(files)["search"] == 40
    # New files after compaction join the compacted one at the next run.
    _write_in_batches(stream_log, local_store, [make_event("search", query="late")], batch=5)
    assert compact(local_store, part) == (2, 41)
    assert compact(local_store, part) == (1, -1)


def test_partitions_past_retention_expire(
    stream_log: RedisStreamLog, local_store: LocalStore
) -> None:
    # Which hours are closed, and the retention setting, are tests/events/test_upkeep.py and
    # test_retention.py.
    old = make_event("qoe", at=NOW - timedelta(days=100), title="t")
    _write_in_batches(stream_log, local_store, [old, make_event("qoe", title="t")], batch=10)
    removed = expire(local_store, NOW, lambda _t: timedelta(days=90))
    assert removed == {"qoe": 1}
    assert len(list(local_store.list("events/"))) == 1


def test_erasure_removes_a_viewer_from_files_and_stream_and_export_finds_them(
    stream_log: RedisStreamLog, local_store: LocalStore, files: EventFiles
) -> None:
    mine = [make_event("progress", viewer="v_gone", title="t", position_s=1.0) for _ in range(5)]
    theirs = [make_event("progress", viewer="v_stays", title="t", position_s=2.0) for _ in range(5)]
    alone = make_event("search", viewer="v_gone", query="me")
    _write_in_batches(stream_log, local_store, [*mine, *theirs, alone], batch=100)
    exported = viewer_events(files, "v_gone")
    assert len(exported) == 6 and {e["type"] for e in exported} == {"progress", "search"}
    assert all(e["viewer"] == "v_gone" for e in exported)
    stream_log.append([make_event("search", viewer="v_gone", query="pending")])
    stream_log.append([make_event("search", viewer="v_stays", query="pending")])
    assert stream_log.erase("v_gone") == 1
    assert erase_viewer_files(local_store, "v_gone") == (2, 6)
    assert viewer_events(files, "v_gone") == []
    assert len(viewer_events(files, "v_stays")) == 5
    # The file that held only the erased viewer's search is gone, not left empty.
    assert len(list(local_store.list("events/type=search/"))) == 0
    assert stream_log.backlog() == 1


def test_a_file_from_before_a_column_was_added_compacts_and_erases(
    stream_log: RedisStreamLog, local_store: LocalStore, files: EventFiles
) -> None:
    _write_in_batches(stream_log, local_store, [make_event("qoe", title="t")], batch=5)
    [info] = list(local_store.list("events/type=qoe/"))
    old = pq.read_table(io.BytesIO(local_store.get_bytes(info.key)))
    old = old.drop_columns(["drm", "device_class"])  # as an earlier build wrote qoe files
    local_store.put_bytes(info.key, to_parquet(old))
    _write_in_batches(stream_log, local_store, [make_event("qoe", viewer="v_b", title="t")], 5)
    assert compact(local_store, Partition("qoe", HOUR)) == (2, 2)
    assert erase_viewer_files(local_store, "v_b") == (1, 1)
    assert distinct_counts(files)["qoe"] == 1
