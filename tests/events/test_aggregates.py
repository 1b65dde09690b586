"""Kept hourly QoE aggregates: written from the console's query for an hour, read back over a
time range (local store and S3), rewritten the same by a rerun."""

from __future__ import annotations

import io
from datetime import datetime, timedelta

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from reelflow.events.aggregates import (
    QOE_HOURLY,
    QOE_HOURLY_SCHEMA,
    kept_qoe_hours,
    qoe_console_cells,
    qoe_hourly,
    write_qoe_hourly,
)
from reelflow.events.log import RedisStreamLog
from reelflow.events.maintenance import Partition, compact, erase_viewer_files
from reelflow.events.parquet import to_parquet
from reelflow.events.queries import EventFiles, qoe_cells_table
from reelflow.events.schema import StoredEvent
from reelflow.events.writer import EventWriter
from reelflow.storage import LocalStore, ObjectStore
from reelflow.storage.layout import event_aggregate_key
from tests.events.conftest import NOW, make_event
from tests.services import S3Server
from tests.storage.support import s3_store

HOUR = NOW.replace(minute=0, second=0, microsecond=0)
EARLIER = HOUR - timedelta(hours=5)


def _write(stream_log: RedisStreamLog, store: ObjectStore, events: list[StoredEvent]) -> None:
    stream_log.append(events)
    writer = EventWriter(stream_log, store, "w", block_ms=10)
    while writer.step():
        pass


def _beacons() -> list[StoredEvent]:
    return [
        *(make_event("qoe", at=EARLIER, title="t1", startup_ms=ms, played_ms=900.0,
                     rebuffer_ms=100.0) for ms in (100.0, 300.0)),
        make_event("qoe", at=EARLIER + timedelta(minutes=20), title="t2", startup_ms=80.0),
        make_event("qoe", at=HOUR, title="t1", startup_ms=500.0),
    ]  # fmt: skip


def test_an_hours_kept_cells_are_the_consoles_cells_of_that_hour(
    stream_log: RedisStreamLog, local_store: LocalStore, files: EventFiles
) -> None:
    beacons = _beacons()
    _write(stream_log, local_store, [*beacons, beacons[0]])  # a duplicate counts once
    assert write_qoe_hourly(local_store, files, [EARLIER, HOUR]) == 2
    assert kept_qoe_hours(local_store) == {EARLIER, HOUR}
    key = event_aggregate_key(QOE_HOURLY, EARLIER)
    assert key == "events-aggregates/qoe_hourly/date=2026-12-07/hour=11/cells.parquet"
    stored = pq.read_table(io.BytesIO(local_store.get_bytes(key)))
    assert stored.schema.names == QOE_HOURLY_SCHEMA.names  # hour_start, not the path's hour
    live = qoe_cells_table(files, EARLIER, EARLIER + timedelta(hours=1)).to_pylist()
    kept = qoe_hourly(files, EARLIER, EARLIER + timedelta(hours=1)).to_pylist()
    assert [(c["title"], c["beacons"]) for c in kept] == [("t1", 2), ("t2", 1)]
    assert [{k: c[k] for k in live[0]} for c in kept] == live
    assert kept[0]["startup_p50_ms"] == 200.0 and kept[0]["rebuffer_ratio"] == 0.1
    both = qoe_hourly(files, EARLIER, HOUR + timedelta(hours=1))
    assert both.column("hour").to_pylist() == [EARLIER, EARLIER, HOUR]


def test_a_rerun_rewrites_the_same_cells_and_strays_are_not_read(
    stream_log: RedisStreamLog, local_store: LocalStore, files: EventFiles
) -> None:
    _write(stream_log, local_store, _beacons())
    write_qoe_hourly(local_store, files, [EARLIER])
    key = event_aggregate_key(QOE_HOURLY, EARLIER)
    first = pq.read_table(io.BytesIO(local_store.get_bytes(key)))
    write_qoe_hourly(local_store, files, [EARLIER, EARLIER + timedelta(minutes=10)])
    assert pq.read_table(io.BytesIO(local_store.get_bytes(key))).equals(first)
    assert len(list(local_store.list("events-aggregates/"))) == 1
    stray = key.rsplit("/", 1)[0] + "/notes.txt"
    local_store.put_bytes(stray, b"not parquet")
    assert qoe_hourly(files, EARLIER, HOUR).num_rows == 2


def test_no_kept_hours_answer_an_empty_table_with_the_columns(files: EventFiles) -> None:
    empty = qoe_hourly(files, EARLIER, HOUR)
    assert empty.num_rows == 0 and "hour" in empty.column_names and "beacons" in empty.column_names
    assert write_qoe_hourly(LocalStore(files.root), files, []) == 0


def test_kept_cells_read_from_s3_through_pyarrow(
    stream_log: RedisStreamLog, seaweed: S3Server
) -> None:
    s3 = s3_store(seaweed.endpoint)
    _write(stream_log, s3, _beacons())
    fs = pafs.S3FileSystem(
        access_key="testing", secret_key="testing", endpoint_override=seaweed.endpoint,
        scheme="http", region="us-east-1",
    )  # fmt: skip
    files = EventFiles(fs, s3.bucket)
    assert write_qoe_hourly(s3, files, [EARLIER]) == 1
    assert kept_qoe_hours(s3) == {EARLIER}
    kept = qoe_hourly(files, EARLIER - timedelta(days=1), HOUR).to_pylist()
    assert [(c["title"], c["beacons"], c["hour"]) for c in kept] == [
        ("t1", 2, EARLIER),
        ("t2", 1, EARLIER),
    ]


def _marked(store: LocalStore, hour: datetime) -> None:
    """Mark an hour's kept cells so a test can tell whether a query read them."""
    key = event_aggregate_key(QOE_HOURLY, hour)
    table = pq.read_table(io.BytesIO(store.get_bytes(key)))
    p50 = pa.array([-1.0] * table.num_rows, pa.float64())
    table = table.set_column(table.schema.get_field_index("startup_p50_ms"), "startup_p50_ms", p50)
    store.put_bytes(key, to_parquet(table))


def test_console_cells_read_settled_hours_from_kept_cells_and_the_rest_from_raw(
    stream_log: RedisStreamLog, local_store: LocalStore, files: EventFiles
) -> None:
    _write(stream_log, local_store, _beacons())
    write_qoe_hourly(local_store, files, [EARLIER])
    compact(local_store, Partition("qoe", EARLIER))
    since, until = EARLIER, HOUR + timedelta(hours=1)
    raw = qoe_cells_table(files, since, until).to_pylist()
    assert qoe_console_cells(files, since, until).to_pylist() == raw  # same cells either way
    _marked(local_store, EARLIER)
    settled = qoe_console_cells(files, since, until).to_pylist()
    assert [c["startup_p50_ms"] for c in settled] == [-1.0, -1.0, 500.0]  # EARLIER was kept
    # Half an hour into EARLIER: not a whole hour, computed from raw.
    half = qoe_console_cells(files, EARLIER + timedelta(minutes=10), until).to_pylist()
    assert -1.0 not in [c["startup_p50_ms"] for c in half]
    # A late batch into the settled hour: raw again until upkeep writes its cells anew.
    _write(stream_log, local_store, [make_event("qoe", at=EARLIER, title="t3", startup_ms=9.0)])
    late = qoe_console_cells(files, since, until).to_pylist()
    assert -1.0 not in [c["startup_p50_ms"] for c in late] and len(late) == 4
    # An erasure after compaction: the kept cells count rows the file no longer holds.
    compact(local_store, Partition("qoe", EARLIER))
    write_qoe_hourly(local_store, files, [EARLIER])
    _marked(local_store, EARLIER)
    assert -1.0 in [c["startup_p50_ms"] for c in qoe_console_cells(files, since, until).to_pylist()]
    erase_viewer_files(local_store, "v_a")
    assert qoe_console_cells(files, since, until).num_rows == 0
