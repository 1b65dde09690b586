"""What is kept of viewer events past retention: hourly QoE aggregates, and their query.

Raw ``qoe`` partitions go after their retention; the QoE console's cells of each closed hour
stay. Upkeep writes them at compaction time with the console's own query
(``queries.qoe_cells_table`` over that hour), so a kept hour reads exactly as it did live:

    events-aggregates/qoe_hourly/date=<YYYY-MM-DD>/hour=<HH>/cells.parquet

One file per hour, Hive-partitioned like the events, rewritten whole by a rerun (the same
hour gives the same cells). The cells hold titles, countries, plans and counts, no viewer
or session id, which is why neither retention nor erasure needs to touch them. Inside the
file the cell's hour is ``hour_start``: ``hour`` is the path's partition column for engines
that read the tree as a table, and the two would collide.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs

from reelflow.events.parquet import to_parquet
from reelflow.events.queries import EventFiles, qoe_cells_table
from reelflow.storage.base import ObjectStore
from reelflow.storage.keys import InvalidObjectKey
from reelflow.storage.layout import (
    event_aggregate_key,
    event_aggregates_prefix,
    parse_event_aggregate_key,
)

QOE_HOURLY = "qoe_hourly"
HOUR = timedelta(hours=1)
_TS = pa.timestamp("us", tz="UTC")
QOE_HOURLY_SCHEMA = pa.schema(
    [
        ("title", pa.string()),
        ("country", pa.string()),
        ("plan", pa.string()),
        ("hour_start", _TS),
        ("beacons", pa.int64()),
        ("sessions", pa.int64()),
        ("startup_p50_ms", pa.float64()),
        ("startup_p95_ms", pa.float64()),
        ("rebuffer_ratio", pa.float64()),
    ]
)


def utc_hour(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _file_table(cells: pa.Table) -> pa.Table:
    """The console's cells in the kept file's columns (``hour`` stored as ``hour_start``)."""
    names = [("hour" if n == "hour_start" else n) for n in QOE_HOURLY_SCHEMA.names]
    picked = cells.select(names).rename_columns(QOE_HOURLY_SCHEMA.names)
    return picked.cast(QOE_HOURLY_SCHEMA)


def _hour_of(key: str) -> datetime | None:
    try:
        return parse_event_aggregate_key(key).hour
    except InvalidObjectKey:
        return None  # not ours (a temp file, a stray object): never taken for cells


def kept_qoe_hours(store: ObjectStore) -> set[datetime]:
    """The hours that have their aggregate file."""
    found = (_hour_of(info.key) for info in store.list(event_aggregates_prefix(QOE_HOURLY)))
    return {hour for hour in found if hour is not None}


def write_qoe_hourly(store: ObjectStore, files: EventFiles, hours: Sequence[datetime]) -> int:
    """Write the cells of each of ``hours`` (closed hours) to its kept file; files written.

    One query over the hours' span, then a file per hour: a day of hours costs one scan of
    the qoe files, not 24."""
    wanted = sorted({utc_hour(h) for h in hours})
    if not wanted:
        return 0
    table = _file_table(qoe_cells_table(files, wanted[0], wanted[-1] + HOUR))
    starts = table.column("hour_start")
    for hour in wanted:
        inside = pc.and_(
            pc.greater_equal(starts, pa.scalar(hour, _TS)),
            pc.less(starts, pa.scalar(hour + HOUR, _TS)),
        )
        cells = table.filter(inside).sort_by(
            [("title", "ascending"), ("country", "ascending"), ("plan", "ascending")]
        )
        store.put_bytes(event_aggregate_key(QOE_HOURLY, hour), to_parquet(cells))
    return len(wanted)


def _kept_paths(files: EventFiles, since: datetime, until: datetime) -> dict[datetime, str]:
    """The kept file of each hour starting in [since, until)."""
    base = f"{files.root}/{event_aggregates_prefix(QOE_HOURLY).rstrip('/')}"
    paths: dict[datetime, str] = {}
    if files.filesystem.get_file_info(base).type == pafs.FileType.Directory:
        for info in files.filesystem.get_file_info(pafs.FileSelector(base, recursive=True)):
            if info.type != pafs.FileType.File:
                continue
            hour = _hour_of(info.path.removeprefix(files.root + "/"))
            if hour is not None and since <= hour < until:
                paths[hour] = info.path
    return paths


def _read_kept(files: EventFiles, paths: Sequence[str]) -> pa.Table:
    if not paths:
        return QOE_HOURLY_SCHEMA.empty_table()
    dataset = ds.dataset(
        sorted(paths), filesystem=files.filesystem, format="parquet", schema=QOE_HOURLY_SCHEMA
    )
    return dataset.to_table()


def _console_order(table: pa.Table) -> pa.Table:
    table = table.sort_by([(n, "ascending") for n in ("hour_start", "title", "country", "plan")])
    return table.rename_columns(["hour" if n == "hour_start" else n for n in table.column_names])


def qoe_hourly(files: EventFiles, since: datetime, until: datetime) -> pa.Table:
    """Kept QoE cells of the hours starting in [since, until), oldest first: the columns of
    ``queries.qoe_cells_table`` (``hour`` included), however old the raw events are."""
    return _console_order(_read_kept(files, list(_kept_paths(files, since, until).values())))


def _whole_hours(since: datetime, until: datetime) -> tuple[datetime, datetime]:
    first = utc_hour(since)
    return (first if first == since else first + HOUR), utc_hour(until)


def qoe_console_cells(files: EventFiles, since: datetime, until: datetime) -> pa.Table:
    """The console's QoE cells over [since, until): read from the kept file for every hour
    that is settled, computed from the raw events for the others.

    Settled: the hour is compacted and left alone since, and its kept cells count as many
    beacons as its compacted file holds rows. A late file (the hour is not alone), a kept
    file written before a late batch, or an erasure since (rows removed) all fail that test,
    and the hour is computed from its raw events, as it would be without kept files."""
    first, last = _whole_hours(since, until)
    paths = _kept_paths(files, first, last) if first < last else {}
    rows = files.compacted_rows("qoe", (first, last)) if paths else {}
    kept = _read_kept(files, [p for h, p in paths.items() if h in rows])
    per_hour = kept.group_by("hour_start").aggregate([("beacons", "sum")]).to_pylist()
    settled = frozenset(
        r["hour_start"] for r in per_hour if rows.get(r["hour_start"]) == r["beacons_sum"]
    )
    kept = kept.filter(pc.is_in(kept.column("hour_start"), pa.array(sorted(settled), _TS)))
    raw = _file_table(qoe_cells_table(files, since, until, skip=settled))
    return _console_order(pa.concat_tables([kept, raw]))
