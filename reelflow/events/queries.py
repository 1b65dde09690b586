"""Named queries over the event files: DuckDB over pyarrow datasets, local or S3.

DuckDB's own S3 reader (httpfs) downloads itself at run time, so S3 objects are read
through pyarrow's S3 filesystem and handed to DuckDB as datasets. Every query reads events
deduplicated by id (``DISTINCT ON (id)``): the files are at-least-once, answers exactly-once.
A query over a time window reads only the hour partitions it overlaps (the partition hour
is the hour of ``server_ts``), and a column a file predates reads as null. The QoE queries
of the admin console are in ``events/qoe_queries.py``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from reelflow.config import Settings
from reelflow.events.maintenance import COMPACTED_NAME
from reelflow.events.parquet import arrow_schema
from reelflow.events.schema import EVENT_TYPES
from reelflow.storage.layout import events_type_prefix, parse_event_key

PARTITION = pa.schema([("date", pa.string()), ("hour", pa.int32())])
HOUR = timedelta(hours=1)
# [since, until) in server time; None: unbounded on that side.
Window = tuple[datetime | None, datetime | None]
_NONE: frozenset[datetime] = frozenset()


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

    def _files(
        self, event_type: str, window: Window = (None, None), skip: frozenset[datetime] = _NONE
    ) -> tuple[list[str], list[str]]:
        """(compacted, fresh) file paths: files of hours compacted and left alone since,
        then every file of the other hours; only hours that overlap ``window``, none of
        the hours in ``skip``."""
        path = f"{self.root}/{events_type_prefix(event_type).rstrip('/')}"
        if self.filesystem.get_file_info(path).type != pafs.FileType.Directory:
            return [], []
        found = self.filesystem.get_file_info(pafs.FileSelector(path, recursive=True))
        hours: dict[str, list[str]] = defaultdict(list)
        for info in found:
            parquet = info.type == pafs.FileType.File and info.path.endswith(".parquet")
            if parquet and self._in_window(info.path, window) and self._hour(info.path) not in skip:
                hours[info.path.rsplit("/", 1)[0]].append(info.path)
        compacted: list[str] = []
        fresh: list[str] = []
        for files in hours.values():
            alone = len(files) == 1 and files[0].endswith("/" + COMPACTED_NAME)
            (compacted if alone else fresh).extend(files)
        return sorted(compacted), sorted(fresh)

    def _hour(self, path: str) -> datetime:
        return parse_event_key(path[len(self.root) :].lstrip("/")).hour

    def _in_window(self, path: str, window: Window) -> bool:
        since, until = window
        if since is None and until is None:
            return True
        hour = self._hour(path)
        return (since is None or hour + HOUR > since) and (until is None or hour < until)

    def compacted_rows(self, event_type: str, window: Window) -> dict[datetime, int]:
        """Rows of each compacted hour left alone since, from the files' footers."""
        compacted, _fresh = self._files(event_type, window)
        return {
            self._hour(path): pq.read_metadata(path, filesystem=self.filesystem).num_rows
            for path in compacted
        }

    def _relation(
        self, con: duckdb.DuckDBPyConnection, event_type: str, files: list[str]
    ) -> duckdb.DuckDBPyRelation:
        schema = pa.unify_schemas([arrow_schema(event_type), PARTITION])
        empty = con.from_arrow(schema.empty_table())
        if not files:
            return empty
        if isinstance(self.filesystem, pafs.LocalFileSystem):
            # DuckDB's own reader: only the columns and row groups a query needs. By name:
            # a file written before a column was added lacks it; it reads as null.
            read = con.read_parquet(files, hive_partitioning=True, union_by_name=True)
            typed = dict(zip(empty.columns, empty.types, strict=True))
            nulls = [f'CAST(NULL AS {typed[c]}) AS "{c}"' for c in typed if c not in read.columns]
            return read.project(", ".join(["*", *nulls])) if nulls else read
        base = f"{self.root}/{events_type_prefix(event_type).rstrip('/')}"
        dataset = ds.dataset(
            files,
            filesystem=self.filesystem,
            format="parquet",
            schema=schema,
            partitioning=ds.partitioning(PARTITION, flavor="hive"),
            partition_base_dir=base,
        )
        return con.from_arrow(dataset)

    def register(
        self,
        con: duckdb.DuckDBPyConnection,
        event_type: str,
        window: Window = (None, None),
        skip: frozenset[datetime] = _NONE,
    ) -> None:
        """View ``<type>``: one row per event id (of the hours ``window`` overlaps, but
        ``skip``). Compaction already left one row per id in its hour, so only the hours
        with fresh files pay for the deduplication."""
        compacted, fresh = self._files(event_type, window, skip)
        self._relation(con, event_type, compacted).create_view(f"compacted_{event_type}")
        self._relation(con, event_type, fresh).create_view(f"fresh_{event_type}")
        con.execute(
            f"CREATE VIEW {event_type} AS SELECT * FROM compacted_{event_type} "
            f"UNION ALL BY NAME SELECT DISTINCT ON (id) * FROM fresh_{event_type}"
        )


@contextmanager
def connect(
    files: EventFiles,
    types: tuple[str, ...] = EVENT_TYPES,
    window: Window = (None, None),
    skip: frozenset[datetime] = _NONE,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A DuckDB connection with a view per event type, deduplicated by id, over the hours
    ``window`` overlaps (every hour by default) but those in ``skip``."""
    con = duckdb.connect()
    try:
        # Hours and time buckets in UTC, whatever the host's zone (date_trunc follows it).
        con.execute("SET TimeZone = 'UTC'")
        for event_type in types:
            files.register(con, event_type, window, skip)
        yield con
    finally:
        con.close()


def distinct_counts(files: EventFiles) -> dict[str, int]:
    """Distinct event ids per type (every known type, zeros included)."""
    with connect(files) as con:
        return {
            t: int(con.execute(f"SELECT count(*) FROM {t}").fetchone()[0])  # type: ignore[index]
            for t in EVENT_TYPES
        }


_QOE_CELLS = """
SELECT title, country, plan, date_trunc('hour', server_ts) AS hour,
       count(*) AS beacons, count(DISTINCT session) AS sessions,
       quantile_cont(startup_ms, 0.5) AS startup_p50_ms,
       quantile_cont(startup_ms, 0.95) AS startup_p95_ms,
       CASE WHEN sum(played_ms) + sum(rebuffer_ms) > 0
            THEN sum(rebuffer_ms) / (sum(played_ms) + sum(rebuffer_ms)) END AS rebuffer_ratio
FROM qoe
WHERE server_ts >= $since AND server_ts < $until
GROUP BY ALL ORDER BY hour, title, country, plan
"""


def qoe_cells_table(
    files: EventFiles, since: datetime, until: datetime, skip: frozenset[datetime] = _NONE
) -> pa.Table:
    """Start-up p50/p95 and rebuffer ratio by title x country x plan x hour, as Arrow,
    computed from the raw events (of every hour but those in ``skip``)."""
    with connect(files, ("qoe",), (since, until), skip) as con:
        return con.sql(_QOE_CELLS, params={"since": since, "until": until}).to_arrow_table()


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


def viewer_events(files: EventFiles, viewer: str) -> list[dict[str, object]]:
    """Every stored event of one viewer, oldest first (the export a viewer may ask for)."""
    out: list[dict[str, object]] = []
    with connect(files) as con:
        for event_type in EVENT_TYPES:
            cursor = con.execute(f"SELECT * FROM {event_type} WHERE viewer = $v", {"v": viewer})
            names = [d[0] for d in cursor.description or []]
            for row in cursor.fetchall():
                record = dict(zip(names, row, strict=True))
                record.pop("date", None), record.pop("hour", None)
                out.append({"type": event_type, **record})
    out.sort(key=lambda r: (str(r["ts"]), str(r["id"])))
    return out
