"""The durable event log: a Redis Stream with one consumer group, behind a small interface.

Producers append a batch in one round trip, one entry per event (so erasure and claiming
work per event): here a pipeline of XADDs; the API's ingest, a Lua script that also applies
the rate limit and the consent mirror (playback_api/delivery/viewer_events.py). The writer
reads through the consumer group and acknowledges only after the Parquet file is in the
object store; what a dead writer read but never acknowledged stays pending and is claimed
by the next one (XAUTOCLAIM). Written entries are deleted from the stream: the log is a
buffer, the Parquet files are the store.

An entry is one field, ``ENTRY_FIELD``, holding the event's JSON (``encode_entry``). A
deployment that outgrows one Redis keeps the append and puts Kafka behind it (docs/events.md).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pydantic_core
import redis

from reelflow.events.schema import STORED_FIELDS, StoredEvent

STREAM = "reelflow:events"
GROUP = "parquet-writer"
ENTRY_FIELD = "e"


# A stored event as the log holds it: StoredEvent's fields, the timestamps parsed. The
# writer works on these rather than on models: the API validated them before appending.
Record = dict[str, Any]


@dataclass(frozen=True)
class Entry:
    entry_id: str
    record: Record | None  # None: an entry that is not a stored event (kept out of files)


class RedisStreamLog:
    """The log on a Redis Stream: appending, and the consumer-group side the writer uses."""

    def __init__(self, client: redis.Redis, stream: str = STREAM, group: str = GROUP) -> None:
        self.client = client
        self.stream = stream
        self.group = group

    # ---- producer
    def append(self, events: Sequence[StoredEvent]) -> None:
        if not events:
            return
        pipe = self.client.pipeline(transaction=False)
        for event in events:
            pipe.xadd(self.stream, {ENTRY_FIELD: event.to_json()})
        pipe.execute()

    # ---- consumer group
    def ensure_group(self) -> None:
        try:
            self.client.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def read(self, consumer: str, count: int, block_ms: int | None = None) -> list[Entry]:
        """New entries for ``consumer`` (they stay pending until acknowledged)."""
        answer: list[Any] = self.client.xreadgroup(  # type: ignore[assignment]
            self.group, consumer, {self.stream: ">"}, count=count, block=block_ms
        )
        return [_entry(eid, data) for _stream, rows in answer or [] for eid, data in rows]

    def claim_stale(self, consumer: str, min_idle_ms: int, count: int) -> list[Entry]:
        """Entries another consumer read and has not acknowledged for ``min_idle_ms``."""
        claimed: list[Entry] = []
        cursor = "0-0"
        while len(claimed) < count:
            cursor, rows, *_ = self.client.xautoclaim(
                self.stream, self.group, consumer, min_idle_ms, start_id=cursor,
                count=count - len(claimed),
            )  # fmt: skip
            claimed += [_entry(eid, data) for eid, data in rows if data]
            if _id(cursor) == "0-0":
                break
        return claimed

    def done(self, entry_ids: Sequence[str]) -> None:
        """Acknowledge and delete written entries, in one round trip.

        In one transaction: a connection or a Redis lost between the two would otherwise
        leave entries acknowledged yet in the stream, which no writer reads again and the
        backlog counts for ever."""
        if not entry_ids:
            return
        pipe = self.client.pipeline(transaction=True)
        pipe.xack(self.stream, self.group, *entry_ids)
        pipe.xdel(self.stream, *entry_ids)
        pipe.execute()

    def erase(self, viewer: str, page: int = 1000) -> int:
        """Delete ``viewer``'s entries not yet written (erasure); returns how many."""
        removed, start = 0, "-"
        while True:
            rows: list[Any] = self.client.xrange(self.stream, min=start, count=page)  # type: ignore[assignment]
            theirs = [
                eid for eid, data in rows
                if (record := _entry(eid, data).record) is not None and record["viewer"] == viewer
            ]  # fmt: skip
            if theirs:
                removed += int(self.client.xdel(self.stream, *theirs))
            if len(rows) < page:
                return removed
            start = "(" + _id(rows[-1][0])

    def in_hand(self) -> tuple[str, str] | None:
        """(oldest, newest) id among entries some writer read and has not acknowledged."""
        try:
            summary: Any = self.client.xpending(self.stream, self.group)
        except redis.ResponseError as exc:
            if "NOGROUP" in str(exc):
                return None  # no writer ever started: nothing can be in hand
            raise
        if not summary or not summary.get("pending"):
            return None
        return _id(summary["min"]), _id(summary["max"])

    def backlog(self) -> int:
        """Entries not yet written to Parquet (new and pending alike)."""
        return int(self.client.xlen(self.stream))


def encode_entry(record: Record) -> bytes:
    """A stored event's entry as the log holds it, from its record (``schema.stored_record``):
    the same bytes as ``StoredEvent.to_json`` for the same values, without building a model.
    Always one line (compact JSON escapes control characters), so entries can travel as
    JSON Lines."""
    return pydantic_core.to_json(record)


def _id(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _record(raw: bytes | str) -> Record | None:
    try:
        data = json.loads(raw)
        if not isinstance(data, dict) or set(data) != STORED_FIELDS:
            return None
        data["ts"] = datetime.fromisoformat(data["ts"])
        data["server_ts"] = datetime.fromisoformat(data["server_ts"])
    except (ValueError, TypeError):
        return None
    return data


def _entry(entry_id: bytes | str, data: dict[bytes, bytes] | None) -> Entry:
    raw = data.get(ENTRY_FIELD.encode()) if data else None
    return Entry(_id(entry_id), _record(raw) if raw is not None else None)
