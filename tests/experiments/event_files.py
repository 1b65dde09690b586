"""Events of experiments straight to Parquet in the events layout, with the project's own
schema and writer code (events.parquet, storage.layout): one file per type and hour, as the
events writer leaves them. Records are the log's shape (``StoredEvent`` as a dict), built
without a model each so a simulation of thousands of viewers writes in a second."""

from __future__ import annotations

import itertools
import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow.fs as pafs

from reelflow.events.parquet import to_parquet, to_table
from reelflow.events.queries import EventFiles
from reelflow.events.schema import SCHEMA_VERSION
from reelflow.storage.layout import event_file_key

_batch = itertools.count()


def event(type_: str, viewer: str, session: str | None, at: datetime, **fields: Any
          ) -> dict[str, Any]:  # fmt: skip
    """One stored event; ``title`` (where the type has one) comes from ``fields``."""
    return {
        "id": str(uuid.uuid4()), "type": type_, "schema_version": SCHEMA_VERSION,
        "ts": at, "server_ts": at, "viewer": viewer, "device": "d1", "session": session,
        "title": fields.pop("title", None), "country": "DE", "plan": "premium",
        "fields": fields,
    }  # fmt: skip


def exposure(viewer: str, session: str, at: datetime, experiment: str, variant: str
             ) -> dict[str, Any]:  # fmt: skip
    return event("exposure", viewer, session, at, experiment=experiment, variant=variant)


def qoe(viewer: str, session: str, at: datetime, **measures: Any) -> dict[str, Any]:
    values = {"startup_ms": None, "rebuffer_count": 0, "rebuffer_ms": 0.0, "played_ms": 0.0,
              "bitrate_switches": 0, "errors": [], "bandwidth_kbps": None, "drm": None,
              "device_class": "tv", **measures}  # fmt: skip
    return event("qoe", viewer, session, at, title="t1", **values)


def write(root: Path, records: Iterable[dict[str, Any]]) -> int:
    """One file per type and hour of ``server_ts``; returns the files written."""
    hours: dict[tuple[str, datetime], list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        hours[(r["type"], r["server_ts"].replace(minute=0, second=0, microsecond=0))].append(r)
    batch = next(_batch)
    for (event_type, hour), rows in hours.items():
        path = root / event_file_key(event_type, hour, f"batch-{batch}.parquet")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(to_parquet(to_table(event_type, rows)))
    return len(hours)


def files_at(root: Path) -> EventFiles:
    root.mkdir(parents=True, exist_ok=True)
    return EventFiles(pafs.LocalFileSystem(), str(root))
