"""The retired ``qoe_beacons`` table, read once by ``reelflow events import-qoe-beacons``.

QoE beacons live in the viewer event log now (events/qoe_queries.py); the import moves the
rows left here into it, deleting each batch once its files are written, and migration 0006
drops the table once it is empty. No SQLModel: the table is described by a Core ``Table`` on
a metadata of its own, so nothing creates it again, and only the columns the database has
are read (a catalog before migration 0004 has no plan, country, DRM or device class).

Also here, in bulk: the analytics choices (``viewer_privacy``, migration 0005) of the
accounts a batch names, which the import applies as the ingest path does.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    delete,
    func,
    inspect,
    select,
)
from sqlalchemy.engine import Engine
from sqlmodel import col

from reelflow.catalog.models import ViewerPrivacy, as_utc

TABLE = "qoe_beacons"
_BEACONS = Table(
    TABLE,
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("title_id", String),
    Column("session_id", String),
    Column("account", String),
    Column("startup_ms", Float),
    Column("rebuffer_count", Integer),
    Column("rebuffer_ms", Float),
    Column("played_ms", Float),
    Column("bitrate_switches", Integer),
    Column("errors", JSON),
    Column("plan", String),
    Column("country", String),
    Column("drm", String),
    Column("device_class", String),
    Column("received_at", DateTime(timezone=True)),
)
# Bound parameters per statement: far below SQLite's and PostgreSQL's limits.
_CHUNK = 500


@dataclass(frozen=True)
class BeaconRow:
    """One stored beacon, as migration 0004 left the table (dimensions None when absent)."""

    id: int
    title_id: str
    session_id: str
    account: str
    received_at: datetime  # UTC
    startup_ms: float | None = None
    rebuffer_count: int = 0
    rebuffer_ms: float = 0.0
    played_ms: float = 0.0
    bitrate_switches: int = 0
    errors: tuple[str, ...] = ()
    plan: str | None = None
    country: str | None = None
    drm: str | None = None
    device_class: str | None = None


def beacon_table_exists(engine: Engine) -> bool:
    return inspect(engine).has_table(TABLE)


def count_beacons(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(_BEACONS)).scalar_one())


def read_beacons(engine: Engine, *, after_id: int, limit: int) -> list[BeaconRow]:
    """Up to ``limit`` rows with an id above ``after_id``, in id order."""
    present = {c["name"] for c in inspect(engine).get_columns(TABLE)}
    columns = [c for c in _BEACONS.columns if c.name in present]
    stmt = select(*columns).where(_BEACONS.c.id > after_id).order_by(_BEACONS.c.id).limit(limit)
    with engine.connect() as conn:
        rows = conn.execute(stmt).mappings().all()
    out = []
    for row in rows:
        data = {k: v for k, v in row.items() if v is not None}
        data["errors"] = tuple(str(e) for e in data.get("errors") or ())
        data["received_at"] = as_utc(row["received_at"])
        out.append(BeaconRow(**data))
    return out


def delete_beacons(engine: Engine, ids: Sequence[int]) -> int:
    """Delete these rows (one transaction); returns how many were deleted."""
    deleted = 0
    with engine.begin() as conn:
        for start in range(0, len(ids), _CHUNK):
            chunk = list(ids[start : start + _CHUNK])
            deleted += conn.execute(delete(_BEACONS).where(_BEACONS.c.id.in_(chunk))).rowcount
    return deleted


def consent_choices(engine: Engine, accounts: Iterable[str]) -> dict[str, bool]:
    """The analytics choices these accounts made; an account without one is absent (the
    deployment's default applies), as is every account before migration 0005."""
    if not inspect(engine).has_table("viewer_privacy"):
        return {}
    wanted = sorted(set(accounts))
    found: dict[str, bool] = {}
    with engine.connect() as conn:
        for start in range(0, len(wanted), _CHUNK):
            stmt = select(col(ViewerPrivacy.account), col(ViewerPrivacy.analytics_consent)).where(
                col(ViewerPrivacy.account).in_(wanted[start : start + _CHUNK])
            )
            found.update({str(a): bool(c) for a, c in conn.execute(stmt)})
    return found
