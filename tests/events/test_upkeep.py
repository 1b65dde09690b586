"""Upkeep over a real local store at fixed times: closed hours compacted with their QoE
aggregate written first, open hours left alone, raw partitions expired per type while the
aggregates stay, late files making an hour pending again."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from redis.exceptions import LockError
from redis.lock import Lock

from reelflow.events.aggregates import kept_qoe_hours, qoe_hourly
from reelflow.events.log import RedisStreamLog
from reelflow.events.maintenance import COMPACTED_NAME
from reelflow.events.queries import EventFiles, distinct_counts, qoe_cells_table
from reelflow.events.retention import Retention
from reelflow.events.schema import StoredEvent
from reelflow.events.service import ERASURE_LOCK, upkeep_lock
from reelflow.events.upkeep import HourWork, expire_raw, pending, run_upkeep, upkeep_type
from reelflow.events.writer import EventWriter
from reelflow.storage import LocalStore
from tests.events.conftest import NOW, make_event

HOUR = NOW.replace(minute=0, second=0, microsecond=0)
OLD = HOUR - timedelta(days=100)  # past the 90-day default
WEEK_AGO = HOUR - timedelta(days=7)
RETENTION = Retention({"progress": 30})


def _write(stream_log: RedisStreamLog, store: LocalStore, events: list[StoredEvent]) -> None:
    stream_log.append(events)
    writer = EventWriter(stream_log, store, "w", batch=2, block_ms=10)  # small files
    while writer.step():
        pass


def _beacon(at: datetime, title: str = "t1", ms: float = 100.0) -> StoredEvent:
    return make_event("qoe", at=at, title=title, startup_ms=ms, played_ms=900.0, rebuffer_ms=100.0)


def _hours(store: LocalStore, event_type: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for info in store.list(f"events/type={event_type}/"):
        partition, name = info.key.rsplit("/", 1)
        out.setdefault(partition.split("/", 2)[2], []).append(name)
    return out


def test_closed_hours_are_pending_open_ones_are_not(
    stream_log: RedisStreamLog, local_store: LocalStore
) -> None:
    _write(stream_log, local_store, [_beacon(WEEK_AGO), _beacon(WEEK_AGO), _beacon(NOW)])
    _write(stream_log, local_store, [make_event("search", at=WEEK_AGO, query="q")])
    assert pending(local_store, "qoe", NOW) == [HourWork(WEEK_AGO, compact=True, aggregate=True)]
    # A lone small file still becomes the hour's compacted file; search keeps no aggregate.
    assert pending(local_store, "search", NOW) == [
        HourWork(WEEK_AGO, compact=True, aggregate=False)
    ]
    assert pending(local_store, "qoe", WEEK_AGO + timedelta(minutes=59)) == []


def test_upkeep_compacts_closed_hours_and_writes_their_aggregate(
    stream_log: RedisStreamLog, local_store: LocalStore, files: EventFiles
) -> None:
    beacons = [_beacon(WEEK_AGO, ms=ms) for ms in (100.0, 200.0, 300.0)]
    _write(stream_log, local_store, [*beacons, beacons[0], _beacon(NOW)])
    seen: list[tuple[int, int]] = []
    done = upkeep_type(local_store, files, "qoe", NOW, lambda d, t: seen.append((d, t)))
    assert (done.hours, done.compacted, done.aggregated) == (1, 1, 1)
    assert seen == [(1, 1)]
    hours = _hours(local_store, "qoe")
    assert hours["date=2026-11-30/hour=16"] == [COMPACTED_NAME]
    assert len(hours["date=2026-12-07/hour=16"]) == 1  # the open hour: untouched
    assert kept_qoe_hours(local_store) == {WEEK_AGO}
    [cell] = qoe_hourly(files, WEEK_AGO, HOUR).to_pylist()
    assert cell["beacons"] == 3 and cell["startup_p50_ms"] == 200.0
    # Nothing left: a rerun does nothing.
    again = upkeep_type(local_store, files, "qoe", NOW)
    assert (again.hours, again.compacted, again.aggregated) == (0, 0, 0)
    # A late batch lands in the closed hour: compacted again, its aggregate rewritten.
    _write(stream_log, local_store, [_beacon(WEEK_AGO, ms=400.0), beacons[1]])
    late = upkeep_type(local_store, files, "qoe", NOW)
    assert (late.hours, late.compacted, late.aggregated) == (1, 1, 1)
    [cell] = qoe_hourly(files, WEEK_AGO, HOUR).to_pylist()
    assert cell["beacons"] == 4 and cell["startup_p50_ms"] == 250.0


def test_expiry_removes_raw_partitions_and_keeps_the_aggregates(
    stream_log: RedisStreamLog, local_store: LocalStore, files: EventFiles
) -> None:
    _write(stream_log, local_store, [_beacon(OLD, "t-old"), _beacon(OLD, "t-old", 300.0)])
    _write(stream_log, local_store, [_beacon(WEEK_AGO), _beacon(NOW)])
    progress = [
        make_event("progress", at=HOUR - timedelta(days=40), title="t1", position_s=1.0),
        make_event("progress", at=HOUR - timedelta(days=10), title="t1", position_s=2.0),
    ]
    _write(stream_log, local_store, [*progress, make_event("search", at=OLD, query="q")])
    before = qoe_cells_table(files, OLD, OLD + timedelta(hours=1)).to_pylist()
    summary = run_upkeep(local_store, files, NOW, RETENTION)
    assert summary["hours_aggregated"] == 2  # the old hour and last week's
    assert summary["files_expired"] == 3  # old qoe and search, 40-day-old progress
    assert summary["partitions_compacted"] >= 3
    # Raw events past retention are gone, per type ...
    assert qoe_cells_table(files, OLD, OLD + timedelta(hours=1)).num_rows == 0
    assert list(_hours(local_store, "search")) == []
    assert list(_hours(local_store, "progress")) == ["date=2026-11-27/hour=16"]  # 10 days old
    assert distinct_counts(files)["qoe"] == 2
    # ... and what was kept of the old QoE hour reads as it did live.
    kept = qoe_hourly(files, OLD, OLD + timedelta(hours=1)).to_pylist()
    assert kept == before and kept[0]["beacons"] == 2
    assert kept_qoe_hours(local_store) == {OLD, WEEK_AGO}
    assert run_upkeep(local_store, files, NOW, RETENTION) == {
        "partitions_compacted": 0, "hours_aggregated": 0, "files_expired": 0,
    }  # fmt: skip


def test_expiry_alone_writes_a_missing_aggregate_before_deleting(
    stream_log: RedisStreamLog, local_store: LocalStore, files: EventFiles
) -> None:
    _write(stream_log, local_store, [_beacon(OLD), _beacon(OLD), _beacon(OLD)])
    expiry = expire_raw(local_store, files, NOW, RETENTION)
    assert expiry.files_by_type == {"qoe": 2} and expiry.aggregated == 1
    assert list(_hours(local_store, "qoe")) == []
    [cell] = qoe_hourly(files, OLD, OLD + timedelta(hours=1)).to_pylist()
    assert cell["beacons"] == 3


def test_compaction_waits_for_the_lock_an_erasure_holds(
    stream_log: RedisStreamLog, local_store: LocalStore, files: EventFiles
) -> None:
    _write(stream_log, local_store, [_beacon(WEEK_AGO), _beacon(WEEK_AGO), _beacon(WEEK_AGO)])
    client = stream_log.client
    lock = upkeep_lock(client)
    assert isinstance(lock, Lock) and lock.name == ERASURE_LOCK  # the one erasures take
    erasing = client.lock(ERASURE_LOCK, timeout=60)
    assert erasing.acquire(blocking=False)

    def impatient() -> Lock:  # the upkeep's lock, giving up fast for the test
        return client.lock(ERASURE_LOCK, timeout=60, blocking_timeout=0.2)

    try:
        with pytest.raises(LockError):
            upkeep_type(local_store, files, "qoe", NOW, exclusive=impatient)
        # The aggregate (no viewer in it) was written; no file was rewritten under the erasure.
        assert kept_qoe_hours(local_store) == {WEEK_AGO}
        assert COMPACTED_NAME not in _hours(local_store, "qoe")["date=2026-11-30/hour=16"]
        with pytest.raises(LockError):
            expire_raw(local_store, files, NOW + timedelta(days=200), RETENTION, impatient)
        assert len(_hours(local_store, "qoe")["date=2026-11-30/hour=16"]) == 2
    finally:
        erasing.release()
    done = upkeep_type(local_store, files, "qoe", NOW, exclusive=impatient)
    assert (done.compacted, done.aggregated) == (1, 1)
    assert _hours(local_store, "qoe")["date=2026-11-30/hour=16"] == [COMPACTED_NAME]
