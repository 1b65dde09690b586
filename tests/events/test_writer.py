from __future__ import annotations

import time
from datetime import timedelta

import pyarrow.parquet as pq

from reelflow.events.log import RedisStreamLog
from reelflow.events.parquet import arrow_schema
from reelflow.events.queries import EventFiles, distinct_counts
from reelflow.events.writer import EventWriter
from reelflow.storage import LocalStore
from tests.events.conftest import NOW, make_event


def test_written_events_land_in_hive_partitions_and_leave_the_stream(
    stream_log: RedisStreamLog, local_store: LocalStore, files: EventFiles
) -> None:
    events = [make_event("qoe", title="t1", startup_ms=100.0 + i) for i in range(30)]
    events += [make_event("search", at=NOW + timedelta(hours=1), query="cats")]
    stream_log.append(events)
    writer = EventWriter(stream_log, local_store, "w1", block_ms=10)
    assert writer.step() == 31
    keys = sorted(info.key for info in local_store.list("events/"))
    assert len(keys) == 2
    assert keys[0].startswith("events/type=qoe/date=2026-12-07/hour=16/")
    assert keys[1].startswith("events/type=search/date=2026-12-07/hour=17/")
    table = pq.read_table(local_store.local_path(keys[0]))
    assert table.schema == arrow_schema("qoe") and table.num_rows == 30
    assert stream_log.backlog() == 0
    assert distinct_counts(files)["qoe"] == 30
    assert writer.step() == 0


def test_a_dead_writers_batch_is_claimed_and_written_once_in_query_results(
    stream_log: RedisStreamLog, local_store: LocalStore, files: EventFiles
) -> None:
    events = [make_event("progress", title="t1", position_s=float(i)) for i in range(50)]
    stream_log.append(events)
    # The first writer reads the batch, writes its file, and dies before acknowledging:
    # what Redis sees after a SIGKILL between the file and the XACK.
    dead = EventWriter(stream_log, local_store, "dead", block_ms=10)
    dead._write(stream_log.read("dead", 100))
    assert stream_log.backlog() == 50
    successor = EventWriter(stream_log, local_store, "next", claim_idle_ms=50, block_ms=10)
    time.sleep(0.1)
    assert successor.step() == 50
    assert successor.counts.claimed == 50
    assert stream_log.backlog() == 0
    # The same batch rewritten under the same name: one file, no duplicate either way.
    assert len(list(local_store.list("events/type=progress/"))) == 1
    assert distinct_counts(files)["progress"] == 50


def test_a_live_writers_pending_batch_is_not_stolen(
    stream_log: RedisStreamLog, local_store: LocalStore
) -> None:
    stream_log.append([make_event("search", query="x")])
    busy = EventWriter(stream_log, local_store, "busy", block_ms=10)
    busy.log.read("busy", 10)  # read, still writing
    other = EventWriter(stream_log, local_store, "other", block_ms=10)
    assert other.step() == 0 and other.counts.claimed == 0


def test_an_entry_that_is_no_event_is_dropped_not_written(
    stream_log: RedisStreamLog, local_store: LocalStore
) -> None:
    stream_log.client.xadd(stream_log.stream, {"e": b"{not json"})
    stream_log.append([make_event("search", query="x")])
    writer = EventWriter(stream_log, local_store, "w", block_ms=10)
    assert writer.step() == 1
    assert writer.counts.dropped == 1 and stream_log.backlog() == 0
