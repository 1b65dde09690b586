"""Event upkeep: compaction, the aggregates kept, and retention, in that order.

One code path for the hourly ``EventsUpkeepWorkflow`` (whose activities call ``upkeep_type``
per event type, then ``expire_raw``) and for ``reelflow events compact`` (``run_upkeep``).

- A closed hour (its hour is over: the writer adds no files to it, except a reclaimed late
  batch, which makes it pending again) is pending while it holds files besides its
  compacted one, or, for a type with kept aggregates, while its aggregate is missing.
- An aggregated type's hour gets its aggregate written *before* it is compacted, from the
  deduplicated files as they are: a run interrupted between the two finds the hour still
  pending and writes both again, so an aggregate never lags its compacted file.
- Retention deletes whole raw partitions past their type's retention; an aggregated type's
  hour still without its aggregate gets it first, so no kept hour depends on a compaction
  run having happened in time.
- Erasures rewrite the same files: the callers pass ``exclusive``, the erasures' lock
  (``service.upkeep_lock``), held around each partition's compaction and around the
  expiry's deletes, so an erasure waits seconds, not a whole run. Aggregates are written
  outside it: they hold no viewer.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime

from reelflow.events import maintenance
from reelflow.events.aggregates import HOUR, kept_qoe_hours, utc_hour, write_qoe_hourly
from reelflow.events.queries import EventFiles
from reelflow.events.retention import Retention
from reelflow.events.schema import EVENT_TYPES
from reelflow.storage.base import ObjectStore
from reelflow.storage.layout import events_type_prefix, parse_event_key


@dataclass(frozen=True)
class Kept:
    """What an aggregated type keeps of its closed hours: how to write and find it."""

    write: Callable[[ObjectStore, EventFiles, Sequence[datetime]], int]
    hours: Callable[[ObjectStore], set[datetime]]


# Types whose closed hours leave aggregates behind past their retention.
AGGREGATED: dict[str, Kept] = {"qoe": Kept(write_qoe_hourly, kept_qoe_hours)}
# Hours aggregated per query: one scan of a type's files serves a day of hours.
AGGREGATE_BATCH = 24

Progress = Callable[[int, int], None]  # (hours done, hours in all)
Exclusive = Callable[[], AbstractContextManager[object]]  # the lock erasures hold


@dataclass(frozen=True)
class HourWork:
    hour: datetime
    compact: bool  # files besides the compacted one
    aggregate: bool  # an aggregate to (re)write


@dataclass(frozen=True)
class TypeUpkeep:
    event_type: str
    hours: int  # pending closed hours worked on
    compacted: int
    aggregated: int


def pending(store: ObjectStore, event_type: str, now: datetime) -> list[HourWork]:
    """The type's closed hours with work left, oldest first (one listing of the type)."""
    files: dict[datetime, list[str]] = defaultdict(list)
    for info in store.list(events_type_prefix(event_type)):
        key = parse_event_key(info.key)
        files[key.hour].append(key.filename)
    kept = AGGREGATED[event_type].hours(store) if event_type in AGGREGATED else None
    current = utc_hour(now)
    work = []
    for hour in sorted(h for h in files if h < current):
        fresh = files[hour] != [maintenance.COMPACTED_NAME]
        aggregate = kept is not None and (fresh or hour not in kept)
        if fresh or aggregate:
            work.append(HourWork(hour, fresh, aggregate))
    return work


def _aggregate(
    store: ObjectStore, files: EventFiles, event_type: str, hours: list[datetime]
) -> int:
    return AGGREGATED[event_type].write(store, files, hours) if hours else 0


def upkeep_type(
    store: ObjectStore,
    files: EventFiles,
    event_type: str,
    now: datetime,
    progress: Progress | None = None,
    exclusive: Exclusive = nullcontext,
) -> TypeUpkeep:
    """Aggregate and compact every pending closed hour of one type."""
    work = pending(store, event_type, now)
    compacted = aggregated = done = 0
    for start in range(0, len(work), AGGREGATE_BATCH):
        batch = work[start : start + AGGREGATE_BATCH]
        aggregated += _aggregate(store, files, event_type, [w.hour for w in batch if w.aggregate])
        for item in batch:
            if item.compact:
                part = maintenance.Partition(event_type, item.hour)
                with exclusive():
                    compacted += maintenance.compact(store, part)[1] >= 0
            done += 1
            if progress is not None:
                progress(done, len(work))
    return TypeUpkeep(event_type, len(work), compacted, aggregated)


@dataclass(frozen=True)
class Expiry:
    files_by_type: dict[str, int]  # raw files deleted
    aggregated: int  # aggregates written first (hours no upkeep run had reached)


def expire_raw(
    store: ObjectStore,
    files: EventFiles,
    now: datetime,
    retention: Retention,
    exclusive: Exclusive = nullcontext,
) -> Expiry:
    """Delete raw partitions past retention; aggregates are written first where missing."""
    aggregated = 0
    for event_type in AGGREGATED:
        cutoff = now - retention.of(event_type)
        due = [w.hour for w in pending(store, event_type, now) if w.aggregate]
        due = [hour for hour in due if hour + HOUR <= cutoff]
        for start in range(0, len(due), AGGREGATE_BATCH):
            aggregated += _aggregate(store, files, event_type, due[start : start + AGGREGATE_BATCH])
    with exclusive():
        removed = maintenance.expire(store, now, retention.of)
    return Expiry(removed, aggregated)


def run_upkeep(
    store: ObjectStore,
    files: EventFiles,
    now: datetime,
    retention: Retention,
    exclusive: Exclusive = nullcontext,
) -> dict[str, int]:
    """Every type's upkeep, then retention: what one scheduled run does, in one process."""
    done = [upkeep_type(store, files, t, now, exclusive=exclusive) for t in EVENT_TYPES]
    expiry = expire_raw(store, files, now, retention, exclusive)
    return {
        "partitions_compacted": sum(t.compacted for t in done),
        "hours_aggregated": sum(t.aggregated for t in done) + expiry.aggregated,
        "files_expired": sum(expiry.files_by_type.values()),
    }
