"""Many events straight to Parquet in the events layout, as the writer and compaction leave
them, fast enough for a million in a test: columns built with numpy, written with the
project's own schema and writer (events.parquet), keys from storage.layout.

Of each type's partitions (hours), every third is compacted (one ``compacted.parquet``,
one row per id); the others hold three fresh files each. One viewer's events are spread
among the rows, and some of them are delivered twice (the same id in a second fresh file
of the same hour), as a writer killed before its acknowledgement leaves them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa

from reelflow.events.maintenance import COMPACTED_NAME
from reelflow.events.parquet import COMMON_COLUMNS, arrow_schema, to_parquet
from reelflow.storage.layout import event_file_key

TYPES = ("progress", "qoe", "search")
HOURS = 24


@dataclass
class Generated:
    rows: int = 0
    files: int = 0
    theirs: dict[str, set[str]] = field(default_factory=dict)  # type -> the viewer's ids
    redelivered: int = 0  # rows of theirs written a second time


def _table(event_type: str, n: int, start: int, viewers: np.ndarray, base: datetime,
           hour: np.ndarray, rng: np.random.Generator) -> pa.Table:  # fmt: skip
    schema = arrow_schema(event_type)
    server_ts = np.datetime64(base.replace(tzinfo=None), "us") + (
        hour * 3_600_000_000 + rng.integers(0, 3_600_000_000, n)
    ).astype("timedelta64[us]")
    ts = pa.array(server_ts, pa.timestamp("us", tz="UTC"))
    common = {
        "id": pa.array([f"{event_type}-{i:012d}" for i in range(start, start + n)]),
        "schema_version": pa.array(np.ones(n, dtype=np.int16)),
        "ts": ts,
        "server_ts": ts,
        "viewer": pa.array(viewers),
        "title": pa.array(np.array(["t1", "t2", "t3"])[rng.integers(0, 3, n)]),
    }
    columns = {
        name: common.get(name, pa.nulls(n, schema.field(name).type)) for name in schema.names
    }
    return pa.table(columns, schema=schema)


def generate(root: Path, total: int, viewer: str, theirs_per_type: int, base: datetime,
             seed: int = 22) -> Generated:  # fmt: skip
    """``total`` events over ``TYPES`` and ``HOURS`` hours from ``base`` under ``root``."""
    assert [name for name, _ in COMMON_COLUMNS][:3] == ["id", "schema_version", "ts"]
    rng = np.random.default_rng(seed)
    out = Generated()
    per_type = total // len(TYPES)
    for event_type in TYPES:
        viewers = np.array([f"v_{x:06d}" for x in rng.integers(0, 100_000, per_type)], dtype=object)
        mine = rng.choice(per_type, theirs_per_type, replace=False)
        viewers[mine] = viewer
        hour = np.sort(rng.integers(0, HOURS, per_type))
        table = _table(event_type, per_type, out.rows, viewers, base, hour, rng)
        out.theirs[event_type] = {str(table.column("id")[int(i)]) for i in mine}
        bounds = np.searchsorted(hour, np.arange(HOURS + 1))
        for h in range(HOURS):
            part = table.slice(bounds[h], bounds[h + 1] - bounds[h])
            _write_hour(root, event_type, base + timedelta(hours=h), part, viewer, out,
                        compacted=h % 3 == 0)  # fmt: skip
        out.rows += per_type
    return out


def _write_hour(root: Path, event_type: str, hour: datetime, part: pa.Table, viewer: str,
                out: Generated, *, compacted: bool) -> None:  # fmt: skip
    def put(name: str, table: pa.Table) -> None:
        path = root / event_file_key(event_type, hour, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(to_parquet(table))
        out.files += 1

    if compacted:
        put(COMPACTED_NAME, part)
        return
    third = part.num_rows // 3
    pieces = [part.slice(0, third), part.slice(third, third), part.slice(2 * third)]
    for n, piece in enumerate(pieces):
        put(f"fresh-{n}.parquet", piece)
    # The first piece's rows of the viewer, and a few others, delivered a second time.
    first = pieces[0]
    is_theirs = np.array(first.column("viewer").to_pylist(), dtype=object) == viewer
    mask = is_theirs.copy()
    mask[:5] = True
    redelivered = first.filter(pa.array(mask))
    out.redelivered += int(is_theirs.sum())
    put("redelivered.parquet", redelivered)
