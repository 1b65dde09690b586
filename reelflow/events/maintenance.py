"""Keeping the event files in shape: compaction, retention and erasure, through the store.

- **Compaction** turns an hour's small files into one, one row per event id, then deletes
  the small files. The compacted file is written before any small file is removed, and
  its name is fixed per partition, so a compaction interrupted anywhere leaves every
  event in at least one file and a rerun finishes the job.
- **Retention** deletes whole partitions older than a type's retention (``events.retention``;
  ``events.upkeep`` runs the three in order and keeps the aggregates).
- **Erasure** rewrites every file that holds one viewer's events without them.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from reelflow.events.parquet import arrow_schema, to_parquet
from reelflow.events.schema import EVENT_TYPES
from reelflow.storage.base import ObjectStore
from reelflow.storage.layout import (
    event_file_key,
    events_partition_prefix,
    events_type_prefix,
    parse_event_key,
)

COMPACTED_NAME = "compacted.parquet"


@dataclass(frozen=True)
class Partition:
    event_type: str
    hour: datetime


def partitions(store: ObjectStore, event_type: str) -> list[Partition]:
    hours = {parse_event_key(info.key).hour for info in store.list(events_type_prefix(event_type))}
    return [Partition(event_type, hour) for hour in sorted(hours)]


def _files(store: ObjectStore, part: Partition) -> list[str]:
    prefix = events_partition_prefix(part.event_type, part.hour)
    return sorted(info.key for info in store.list(prefix))


def _read(store: ObjectStore, key: str, event_type: str) -> pa.Table:
    table = pq.read_table(io.BytesIO(store.get_bytes(key)))
    schema = arrow_schema(event_type)
    for name in schema.names:
        # A file written before a column was added (an optional field) lacks it: null.
        if name not in table.schema.names:
            table = table.append_column(name, pa.nulls(table.num_rows, schema.field(name).type))
    return table.select(schema.names).cast(schema)


def _first_per_id(table: pa.Table) -> pa.Table:
    """One row per event id: the earliest arrival."""
    if table.num_rows == 0:
        return table
    order = pc.sort_indices(table, sort_keys=[("id", "ascending"), ("server_ts", "ascending")])
    table = table.take(order)
    ids = table.column("id")
    keep = pc.not_equal(ids.slice(1), ids.slice(0, len(ids) - 1))
    mask = pa.concat_arrays([pa.array([True]), keep.combine_chunks()])
    return table.filter(mask)


def compact(store: ObjectStore, part: Partition) -> tuple[int, int]:
    """Compact one partition; returns (files before, rows after)."""
    keys = _files(store, part)
    target = event_file_key(part.event_type, part.hour, COMPACTED_NAME)
    if keys == [target] or not keys:
        return len(keys), -1
    tables = [_read(store, key, part.event_type) for key in keys]
    merged = _first_per_id(pa.concat_tables(tables))
    store.put_bytes(target, to_parquet(merged))
    for key in keys:
        if key != target:
            store.delete(key)
    return len(keys), merged.num_rows


def expire(
    store: ObjectStore, now: datetime, retention: Callable[[str], timedelta]
) -> dict[str, int]:
    """Delete partitions older than each type's retention; files deleted per type."""
    removed: dict[str, int] = {}
    for event_type in EVENT_TYPES:
        cutoff = now - retention(event_type)
        for part in partitions(store, event_type):
            if part.hour + timedelta(hours=1) <= cutoff:
                prefix = events_partition_prefix(event_type, part.hour)
                removed[event_type] = removed.get(event_type, 0) + store.delete_prefix(prefix)
    return removed


def erase_viewer_files(
    store: ObjectStore, viewer: str, since: datetime | None = None
) -> tuple[int, int]:
    """Rewrite every file holding ``viewer``'s events without them (only the files of hours
    from ``since`` on, if given); (files, rows) removed."""
    files = rows = 0
    for event_type in EVENT_TYPES:
        for info in list(store.list(events_type_prefix(event_type))):
            if since is not None and parse_event_key(info.key).hour + timedelta(hours=1) <= since:
                continue
            table = _read(store, info.key, event_type)
            theirs = pc.equal(table.column("viewer"), viewer)
            count = pc.sum(theirs).as_py() or 0
            if not count:
                continue
            kept = table.filter(pc.invert(theirs))
            if kept.num_rows:
                store.put_bytes(info.key, to_parquet(kept))
            else:
                store.delete(info.key)
            files, rows = files + 1, rows + count
    return files, rows
