"""``reelflow events import-qoe-beacons``: the catalog's QoE beacon rows moved into the event
log, once; then migration 0006 drops the emptied table.

Each row left in ``qoe_beacons`` becomes a ``qoe`` event written straight to Parquet in the
events layout, in the hour partition of its ``received_at``:

- ``id``: uuid5 of the row id under ``NAMESPACE``, so a row always gives the same event and
  queries (which count distinct ids) never count a row twice, however often it is written;
- ``viewer``: the account's pseudonym (events/pseudonym.py), or ``anonymous`` for an account
  whose analytics consent is off (events/privacy.py: the rule the ingest path applies);
- ``ts`` and ``server_ts``: ``received_at`` (the player's clock was never stored);
- ``session``, ``title``, ``country``, ``plan``, the measures, and ``drm`` and
  ``device_class`` as stored (null for rows older than migration 0004).

Batch by batch, in id order: a batch's files are written first, then its rows deleted. A run
stopped in between leaves rows whose events are already in a file; the rerun writes them
again under the same ids. A rerun after a complete run finds nothing to import.

Beacons already in the log: while ``POST /v1/qoe`` both enqueued the row and appended a
``qoe`` event, a beacon may be in both places. A row whose twin event is in the files (same
session, title and measures, accepted at most ``TWIN_WINDOW`` after the row's
``received_at``; one event stands for one row) is deleted without being imported. Run the
import once the writer has caught up (``reelflow events stats``: backlog 0).

A row that is not a valid ``qoe`` event (the API validated every beacon, so none should be)
stays in the table and is named in the result; the migration refuses to drop a table that
still holds rows.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy.engine import Engine

from reelflow.catalog import legacy_qoe
from reelflow.catalog.legacy_qoe import BeaconRow
from reelflow.events.parquet import to_parquet, to_table
from reelflow.events.privacy import apply_consent
from reelflow.events.pseudonym import viewer_pseudonym
from reelflow.events.queries import EventFiles, connect
from reelflow.events.schema import Context, QoE, StoredEvent, store
from reelflow.storage.base import ObjectStore
from reelflow.storage.layout import event_file_key

# Fixed for good: the event ids of imported rows derive from it.
NAMESPACE = uuid.UUID("3b0f5f36-9d0e-5c1a-8d55-0c7f1e2a9b64")
BATCH = 2000
# From a row's received_at to its twin event's server_ts: the API stamped the row first,
# then checked the session and enqueued before it made the event.
TWIN_WINDOW = timedelta(minutes=2)
_EARLY = timedelta(seconds=1)


def event_id(row_id: int) -> str:
    return str(uuid.uuid5(NAMESPACE, str(row_id)))


@dataclass
class ImportResult:
    imported: int = 0  # rows written as events
    already_logged: int = 0  # rows whose twin event was already in the log
    files: int = 0
    deleted: int = 0
    invalid: list[int] = field(default_factory=list)  # ids of rows left in the table
    remaining: int = 0  # rows in the table after the run: 0 lets migration 0006 drop it
    table: bool = True  # False: the table is gone (migration 0006 ran); nothing to do

    def summary(self) -> dict[str, Any]:
        return {
            "imported": self.imported,
            "already_logged": self.already_logged,
            "files": self.files,
            "deleted": self.deleted,
            "invalid": self.invalid,
            "remaining": self.remaining,
            "table": "present" if self.table else "dropped",
        }


@dataclass(frozen=True)
class BeaconImport:
    """The parts an import reads and writes."""

    catalog: Engine
    store: ObjectStore
    files: EventFiles
    key: bytes  # the pseudonym key (events.pseudonym.pseudonym_key)
    consent_default: bool  # REELFLOW_ANALYTICS_CONSENT_DEFAULT

    def run(self, batch: int = BATCH) -> ImportResult:
        result = ImportResult()
        if not legacy_qoe.beacon_table_exists(self.catalog):
            result.table = False
            return result
        after = 0
        while rows := legacy_qoe.read_beacons(self.catalog, after_id=after, limit=batch):
            after = rows[-1].id
            self._batch(rows, result)
        result.remaining = legacy_qoe.count_beacons(self.catalog)
        return result

    def _batch(self, rows: list[BeaconRow], result: ImportResult) -> None:
        twins = logged_twins(self.files, rows)
        choices = legacy_qoe.consent_choices(self.catalog, (r.account for r in rows))
        done = sorted(twins)
        by_hour: dict[datetime, list[tuple[int, StoredEvent]]] = defaultdict(list)
        for row in rows:
            if row.id in twins:
                continue
            try:
                event = self._event(row)
            except (ValidationError, ValueError):
                result.invalid.append(row.id)
                continue
            done.append(row.id)
            kept, _dropped = apply_consent([event], choices.get(row.account, self.consent_default))
            for stored in kept:
                hour = stored.server_ts.replace(minute=0, second=0, microsecond=0)
                by_hour[hour].append((row.id, stored))
        for hour, events in sorted(by_hour.items()):
            # Named by the rows it holds: a rerun of the same batch replaces its own file.
            name = f"qoe_beacons_{events[0][0]}_{events[-1][0]}.parquet"
            table = to_table("qoe", [e.model_dump() for _, e in events])
            self.store.put_bytes(event_file_key("qoe", hour, name), to_parquet(table))
            result.files += 1
            result.imported += len(events)
        # Only now that every file of the batch is written.
        result.deleted += legacy_qoe.delete_beacons(self.catalog, done)
        result.already_logged += len(twins)

    def _event(self, row: BeaconRow) -> StoredEvent:
        """The row as the stored qoe event the API would have made of it then."""
        client = QoE.model_validate(
            {
                "type": "qoe",
                "id": uuid.UUID(event_id(row.id)),
                "ts": row.received_at,
                "title": row.title_id,
                "session": row.session_id,
                "startup_ms": None if row.startup_ms is None else float(row.startup_ms),
                "rebuffer_count": int(row.rebuffer_count),
                "rebuffer_ms": float(row.rebuffer_ms),
                "played_ms": float(row.played_ms),
                "bitrate_switches": int(row.bitrate_switches),
                "errors": list(row.errors),
            }
        )
        viewer = viewer_pseudonym(self.key, row.account)
        ctx = Context(viewer=viewer, country=row.country, plan=row.plan)
        server = {"drm": row.drm, "device_class": row.device_class}
        # "now" is when the API accepted it: the event's time and partition hour.
        return store(client, ctx, now=row.received_at, server=server)


_TWINS = """
SELECT session, title, startup_ms, rebuffer_count, rebuffer_ms, played_ms, bitrate_switches,
       errors, server_ts
FROM qoe
WHERE server_ts >= $since AND server_ts < $until AND list_contains($sessions, session)
ORDER BY server_ts
"""


def _measures(values: Sequence[Any]) -> tuple[Any, ...]:
    startup, count, rebuffer, played, switches, errors = values
    return (
        None if startup is None else float(startup),
        int(count or 0),
        float(rebuffer or 0.0),
        float(played or 0.0),
        int(switches or 0),
        tuple(errors or ()),
    )


def logged_twins(files: EventFiles, rows: Sequence[BeaconRow]) -> set[int]:
    """Ids of the rows whose beacon is already a qoe event in the files (one event each)."""
    if not rows:
        return set()
    since = min(r.received_at for r in rows) - _EARLY
    until = max(r.received_at for r in rows) + TWIN_WINDOW
    sessions = sorted({r.session_id for r in rows})
    with connect(files, ("qoe",), (since, until)) as con:
        found = con.execute(_TWINS, {"since": since, "until": until, "sessions": sessions})
        pool: dict[tuple[Any, ...], list[datetime]] = defaultdict(list)
        for session, title, *measures, at in found.fetchall():
            pool[(session, title, *_measures(measures))].append(at)
    twins: set[int] = set()
    for row in sorted(rows, key=lambda r: (r.received_at, r.id)):
        key = (row.session_id, row.title_id, *_measures(_row_measures(row)))
        times = pool.get(key, [])
        low, high = row.received_at - _EARLY, row.received_at + TWIN_WINDOW
        match = next((i for i, t in enumerate(times) if low <= t <= high), None)
        if match is not None:
            times.pop(match)  # one event stands for one row
            twins.add(row.id)
    return twins


def _row_measures(row: BeaconRow) -> tuple[Any, ...]:
    return (
        row.startup_ms,
        row.rebuffer_count,
        row.rebuffer_ms,
        row.played_ms,
        row.bitrate_switches,
        row.errors,
    )
