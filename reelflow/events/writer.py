"""The events writer: the stream's consumer group into Parquet files on the object store.

Each step claims what a dead writer left pending, reads new entries, writes one Parquet
file per (type, hour of arrival) partition and only then acknowledges and deletes the
entries. A crash between the file and the acknowledgement leaves entries pending: the next
writer writes them again, so a file may hold an event another file holds too. Queries count
distinct event ids and compaction keeps one row per id: at-least-once in the files,
exactly-once in what queries see.

The writer outlives its dependencies' outages: a Redis that restarts (or is unreachable) or
a store that is briefly away makes it wait and retry with a growing pause, logging the
first failure, a reminder a minute while it lasts, and the recovery. Nothing is lost in
the meantime: unread entries stay in the stream and read ones stay pending.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import redis

from reelflow.events.log import Entry, Record, RedisStreamLog
from reelflow.events.parquet import arrow_schema, to_parquet, to_table
from reelflow.events.schema import EVENT_TYPES
from reelflow.storage.base import ObjectStore, StorageError
from reelflow.storage.layout import event_file_key

log = logging.getLogger(__name__)

# A writer that has not acknowledged what it read for this long is taken for dead. Well
# above a batch's write time, so a live writer's entries are not written twice. Processes
# take it from REELFLOW_EVENTS_CLAIM_IDLE_MS (config.py), whose default this is.
CLAIM_IDLE_MS = 15_000
BATCH = 5_000
BLOCK_MS = 1_000
# Called with each written file's type and events, after the batch's files are written.
WrittenHook = Callable[[str, list[Record]], None]
# What an outage looks like from here; anything else is a bug and ends the process. A store
# error counts too (an S3 server answers 503 while it restarts; a refused write will not
# mend by itself, yet a writer retrying and logging it loses nothing either).
TRANSIENT = (redis.ConnectionError, redis.TimeoutError, StorageError)
RETRY_FIRST_S, RETRY_MAX_S = 0.2, 5.0
OUTAGE_REMINDER_S = 60.0


@dataclass
class WriterCounts:
    events: int = 0
    files: int = 0
    claimed: int = 0
    dropped: int = 0  # entries that were no valid event (named in the log, never written)
    by_type: dict[str, int] = field(default_factory=dict)


class EventWriter:
    def __init__(
        self,
        log_: RedisStreamLog,
        store: ObjectStore,
        consumer: str,
        *,
        batch: int = BATCH,
        claim_idle_ms: int = CLAIM_IDLE_MS,
        block_ms: int = BLOCK_MS,
        on_written: WrittenHook | None = None,
    ) -> None:
        self.log = log_
        self.store = store
        self.consumer = consumer
        self.batch = batch
        self.claim_idle_ms = claim_idle_ms
        self.block_ms = block_ms
        self.on_written = on_written
        self.counts = WriterCounts()
        self._group_ready = False
        # Started before Redis answers: the first step that reaches it creates the group.
        with contextlib.suppress(redis.ConnectionError, redis.TimeoutError):
            self._ensure_group()

    def _ensure_group(self) -> None:
        self.log.ensure_group()
        self._group_ready = True

    def step(self) -> int:
        """One batch: claim, read, write, acknowledge. Returns the events written."""
        if not self._group_ready:
            self._ensure_group()
        entries = self.log.claim_stale(self.consumer, self.claim_idle_ms, self.batch)
        if entries:
            self.counts.claimed += len(entries)
            log.warning("events writer %s: claimed %d entries pending for over %d ms "
                        "(a writer stopped mid-batch)", self.consumer, len(entries),
                        self.claim_idle_ms)  # fmt: skip
        if len(entries) < self.batch:
            block = None if entries else self.block_ms
            entries += self.log.read(self.consumer, self.batch - len(entries), block)
        if not entries:
            return 0
        written = self._write(entries)
        self.log.done([e.entry_id for e in entries])
        return written

    def _write(self, entries: list[Entry]) -> int:
        partitions: dict[tuple[str, datetime], list[tuple[str, Record]]] = defaultdict(list)
        for entry in entries:
            record = entry.record
            if record is None or record["type"] not in EVENT_TYPES:
                self.counts.dropped += 1
                log.warning("events writer: entry %s is not a known event; dropped", entry.entry_id)
                continue
            hour = record["server_ts"].replace(minute=0, second=0, microsecond=0)
            partitions[(record["type"], hour)].append((entry.entry_id, record))
        files: list[tuple[str, list[Record]]] = []
        for (event_type, hour), rows in partitions.items():
            # Named by the entries it holds: a rewrite of the same batch replaces its file.
            name = f"{rows[0][0]}_{rows[-1][0]}.parquet"
            records = [record for _, record in rows]
            table = to_table(event_type, records)
            assert table.schema == arrow_schema(event_type)
            self.store.put_bytes(event_file_key(event_type, hour, name), to_parquet(table))
            files.append((event_type, records))
            self.counts.files += 1
            self.counts.by_type[event_type] = self.counts.by_type.get(event_type, 0) + len(rows)
        if self.on_written is not None:
            # Once every file of the batch is written (events.metrics: the QoE histograms).
            for event_type, records in files:
                self.on_written(event_type, records)
        written = sum(len(rows) for rows in partitions.values())
        self.counts.events += written
        return written

    def run(self, keep_going: Callable[[], bool], *, idle_sleep_s: float = 0.0) -> WriterCounts:
        """Steps until ``keep_going()`` is false (a signal handler flips it), through outages."""
        outage = _Outage()
        while keep_going():
            try:
                written = self.step()
            except TRANSIENT as exc:
                _pause(outage.failed(exc), keep_going)
                continue
            except redis.ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                # A Redis restarted without its data (the embedded stack keeps none).
                log.warning("events writer: consumer group gone; creating it again")
                self._group_ready = False
                continue
            outage.over()
            if written == 0 and idle_sleep_s:
                time.sleep(idle_sleep_s)
        return self.counts


class _Outage:
    """Backoff and bounded logging while Redis or the store is away."""

    def __init__(self) -> None:
        self.failures = 0
        self.started = self.reminded = 0.0

    def failed(self, exc: Exception) -> float:
        """Count a failed step; returns how long to wait before the next one."""
        now = time.monotonic()
        if self.failures == 0:
            self.started = self.reminded = now
            log.warning("events writer: %s; retrying until it is back", _describe(exc))
        elif now - self.reminded >= OUTAGE_REMINDER_S:
            self.reminded = now
            log.warning("events writer: still failing after %.0f s (%d attempts): %s",
                        now - self.started, self.failures + 1, _describe(exc))  # fmt: skip
        self.failures += 1
        return min(RETRY_MAX_S, RETRY_FIRST_S * 2 ** min(self.failures - 1, 8))

    def over(self) -> None:
        if self.failures:
            log.warning("events writer: back after %.1f s (%d failed attempts)",
                        time.monotonic() - self.started, self.failures)  # fmt: skip
            self.failures = 0


def _describe(exc: Exception) -> str:
    # The exception's type and message only: a Redis URL with a password never gets here
    # (redis-py names host and port), and no traceback per retry.
    return f"{type(exc).__name__}: {exc}"


def _pause(seconds: float, keep_going: Callable[[], bool]) -> None:
    """Sleep in short slices so a SIGTERM during an outage still stops the writer quickly."""
    deadline = time.monotonic() + seconds
    while keep_going() and (left := deadline - time.monotonic()) > 0:
        time.sleep(min(left, 0.1))
