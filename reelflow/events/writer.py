"""The events writer: the stream's consumer group into Parquet files on the object store.

Each step claims what a dead writer left pending, reads new entries, writes one Parquet
file per (type, hour of arrival) partition and only then acknowledges and deletes the
entries. A crash between the file and the acknowledgement leaves entries pending: the next
writer writes them again, so a file may hold an event another file holds too. Queries count
distinct event ids and compaction keeps one row per id: at-least-once in the files,
exactly-once in what queries see.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from reelflow.events.log import Entry, Record, RedisStreamLog
from reelflow.events.parquet import arrow_schema, to_parquet, to_table
from reelflow.events.schema import EVENT_TYPES
from reelflow.storage.base import ObjectStore
from reelflow.storage.layout import event_file_key

log = logging.getLogger(__name__)

# A writer that has not acknowledged what it read for this long is taken for dead. Well
# above a batch's write time, so a live writer's entries are not written twice.
CLAIM_IDLE_MS = 15_000
BATCH = 5_000
BLOCK_MS = 1_000


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
    ) -> None:
        self.log = log_
        self.store = store
        self.consumer = consumer
        self.batch = batch
        self.claim_idle_ms = claim_idle_ms
        self.block_ms = block_ms
        self.counts = WriterCounts()
        log_.ensure_group()

    def step(self) -> int:
        """One batch: claim, read, write, acknowledge. Returns the events written."""
        entries = self.log.claim_stale(self.consumer, self.claim_idle_ms, self.batch)
        self.counts.claimed += len(entries)
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
        for (event_type, hour), rows in partitions.items():
            # Named by the entries it holds: a rewrite of the same batch replaces its file.
            name = f"{rows[0][0]}_{rows[-1][0]}.parquet"
            table = to_table(event_type, [record for _, record in rows])
            assert table.schema == arrow_schema(event_type)
            self.store.put_bytes(event_file_key(event_type, hour, name), to_parquet(table))
            self.counts.files += 1
            self.counts.by_type[event_type] = self.counts.by_type.get(event_type, 0) + len(rows)
        written = sum(len(rows) for rows in partitions.values())
        self.counts.events += written
        return written

    def run(self, keep_going: Callable[[], bool], *, idle_sleep_s: float = 0.0) -> WriterCounts:
        """Steps until ``keep_going()`` is false (a signal handler flips it)."""
        while keep_going():
            if self.step() == 0 and idle_sleep_s:
                time.sleep(idle_sleep_s)
        return self.counts
