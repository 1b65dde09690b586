"""Named queries over the event files: DuckDB over pyarrow datasets, local or S3.

DuckDB's own S3 reader (httpfs) downloads itself at run time, so S3 objects are read
through pyarrow's S3 filesystem and handed to DuckDB as datasets. Every query reads events
deduplicated by id (``DISTINCT ON (id)``): the files are at-least-once, answers exactly-once.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs

from reelflow.config import Settings
from reelflow.events.parquet import arrow_schema
from reelflow.events.schema import EVENT_TYPES
from reelflow.storage.layout import events_type_prefix

PARTITION = pa.schema([("date", pa.string()), ("hour", pa.int32())])


@dataclass(frozen=True)
class EventFiles:
    """Where the event files are: a pyarrow filesystem and the store's root in it."""

    filesystem: pafs.FileSystem
    root: str

    @classmethod
    def from_settings(cls, settings: Settings) -> EventFiles:
        if settings.store == "local":
            root = settings.resolved_store_root
            root.mkdir(parents=True, exist_ok=True)
            return cls(pafs.LocalFileSystem(), str(root))
        endpoint = settings.s3_endpoint.split("://", 1)[-1]
        scheme = (
            "https" if settings.s3_secure or settings.s3_endpoint.startswith("https") else "http"
        )
        fs = pafs.S3FileSystem(
            access_key=settings.s3_access_key,
            secret_key=settings.s3_secret_key.get_secret_value(),
            region=settings.s3_region,
            endpoint_override=endpoint,
            scheme=scheme,
        )
        return cls(fs, settings.s3_bucket)

    def dataset(self, event_type: str) -> ds.Dataset:
        """``event_type``'s files as one dataset (empty, with its schema, when there are none)."""
        schema = arrow_schema(event_type)
        path = f"{self.root}/{events_type_prefix(event_type).rstrip('/')}"
        if self.filesystem.get_file_info(path).type != pafs.FileType.Directory:
            return ds.dataset(schema.empty_table())
        return ds.dataset(
            path,
            filesystem=self.filesystem,
            format="parquet",
            schema=pa.unify_schemas([schema, PARTITION]),
            partitioning=ds.partitioning(PARTITION, flavor="hive"),
            exclude_invalid_files=False,
        )


@contextmanager
def connect(
    files: EventFiles, types: tuple[str, ...] = EVENT_TYPES
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A DuckDB connection with a view per event type: ``<type>`` deduplicated by id."""
    con = duckdb.connect()
    try:
        for event_type in types:
            con.register(f"raw_{event_type}", files.dataset(event_type))
            con.execute(
                f"CREATE VIEW {event_type} AS SELECT DISTINCT ON (id) * FROM raw_{event_type}"
            )
        yield con
    finally:
        con.close()


def distinct_counts(files: EventFiles) -> dict[str, int]:
    """Distinct event ids per type (every known type, zeros included)."""
    with connect(files) as con:
        return {
            t: int(con.execute(f"SELECT count(DISTINCT id) FROM raw_{t}").fetchone()[0])  # type: ignore[index]
            for t in EVENT_TYPES
        }


@dataclass(frozen=True)
class QoECell:
    title: str
    country: str | None
    plan: str | None
    hour: datetime
    beacons: int
    sessions: int
    startup_p50_ms: float | None
    startup_p95_ms: float | None
    rebuffer_ratio: float | None


_QOE_CELLS = """
SELECT title, country, plan, date_trunc('hour', server_ts) AS hour,
       count(*) AS beacons, count(DISTINCT session) AS sessions,
       quantile_cont(startup_ms, 0.5) AS p50, quantile_cont(startup_ms, 0.95) AS p95,
       CASE WHEN sum(played_ms) + sum(rebuffer_ms) > 0
            THEN sum(rebuffer_ms) / (sum(played_ms) + sum(rebuffer_ms)) END AS ratio
FROM qoe
WHERE server_ts >= $since AND server_ts < $until
GROUP BY ALL ORDER BY hour, title, country, plan
"""


def qoe_cells(files: EventFiles, since: datetime, until: datetime) -> list[QoECell]:
    """Start-up p50/p95 and rebuffer ratio by title x country x plan x hour."""
    with connect(files, ("qoe",)) as con:
        rows = con.execute(_QOE_CELLS, {"since": since, "until": until}).fetchall()
    return [QoECell(*row) for row in rows]


@dataclass(frozen=True)
class Watched:
    title: str
    position_s: float
    last_at: datetime
    completed: bool


_HISTORY = """
WITH seen AS (
  SELECT title, position_s, ts, false AS ended FROM progress WHERE viewer = $viewer
  UNION ALL
  SELECT title, position_s, ts, reason = 'ended' FROM play_end WHERE viewer = $viewer
)
SELECT title, arg_max(position_s, ts), max(ts), bool_or(ended)
FROM seen GROUP BY title ORDER BY max(ts) DESC
"""


def watch_history(files: EventFiles, viewer: str) -> list[Watched]:
    """What one (pseudonymous) viewer watched, newest first, with the last position."""
    with connect(files, ("progress", "play_end")) as con:
        rows = con.execute(_HISTORY, {"viewer": viewer}).fetchall()
    return [Watched(*row) for row in rows]
