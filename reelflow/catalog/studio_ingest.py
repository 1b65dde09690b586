"""Catalog rows behind a studio's ingest: Idempotency-Key records and title ownership.

Blocking (SQLAlchemy sessions): the API calls these in a worker thread. One
``ingest_requests`` row per (studio, Idempotency-Key) is claimed while the first request
is in flight (``status_code == PENDING``) and completed with the answer to replay; the
unique constraint on that pair is what makes a claim exclusive.

Title ownership is claimed the same way: the first accepted ingest of a title id inserts
its ``titles`` row naming the studio (``claim_title``), and the primary key makes that
insert exclusive on SQLite and PostgreSQL alike, so of two racing first ingests exactly
one owns the id. After that the owner changes only by ``transfer_title`` (ops, ``reelflow
titles transfer``); registration never rewrites it (``titles.upsert_title``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from reelflow.catalog.db import session_scope
from reelflow.catalog.models import IngestRequestRow, LifecycleEvent, Studio, Title, utcnow
from reelflow.catalog.titles import TitleNotFound

__all__ = [
    "EVENT_TRANSFERRED",
    "PENDING",
    "UnknownStudio",
    "claim_ingest_request",
    "claim_title",
    "complete_ingest_request",
    "find_ingest_request",
    "find_title",
    "release_ingest_request",
    "transfer_title",
]

# IngestRequestRow.status_code while the first request is still in flight: no HTTP status
# is 0, so a stored answer is never mistaken for a claim.
PENDING = 0
EVENT_TRANSFERRED = "ownership_transferred"


class UnknownStudio(LookupError):
    def __init__(self, studio_id: str) -> None:
        super().__init__(f"no studio with id {studio_id!r}")


def find_ingest_request(engine: Engine, studio_id: str, key: str) -> IngestRequestRow | None:
    """The record of `key` for this studio, pending or answered; None if never used."""
    with Session(engine) as s:
        stmt = select(IngestRequestRow).where(
            IngestRequestRow.studio_id == studio_id, IngestRequestRow.idempotency_key == key
        )
        return s.exec(stmt).first()


def claim_ingest_request(
    engine: Engine, studio_id: str, key: str, body_hash: str, title_id: str
) -> int | None:
    """Insert a pending row and return its id; None when another request holds the key."""
    row = IngestRequestRow(
        studio_id=studio_id,
        idempotency_key=key,
        body_sha256=body_hash,
        title_id=title_id,
        status_code=PENDING,
        response={},
    )
    try:
        with session_scope(engine) as s:
            s.add(row)
            s.flush()
            return row.id
    except IntegrityError:
        return None


def complete_ingest_request(
    engine: Engine, row_id: int, status_code: int, body: dict[str, Any]
) -> None:
    """Store the answer a retry under the same key gets back."""
    with session_scope(engine) as s:
        s.execute(
            update(IngestRequestRow)
            .where(col(IngestRequestRow.id) == row_id)
            .values(status_code=status_code, response=body)
        )


def release_ingest_request(engine: Engine, row_id: int) -> None:
    """Drop a pending claim so a retry under the same key starts afresh.

    Only while pending: an answered row is never deleted, even by a late release.
    """
    with session_scope(engine) as s:
        s.execute(
            delete(IngestRequestRow).where(
                col(IngestRequestRow.id) == row_id, col(IngestRequestRow.status_code) == PENDING
            )
        )


def find_title(engine: Engine, title_id: str) -> Title | None:
    """The catalog's title row (its ``studio_id`` says who owns it); None if unknown."""
    with Session(engine) as s:
        return s.get(Title, title_id)


def claim_title(
    engine: Engine, title_id: str, studio_id: str, name: str, version: int = 1
) -> str | None:
    """Make `studio_id` the owner of a title id nobody has; return the owner afterwards.

    The caller compares: its own id means claimed now or earlier; another id, or None (a
    title ops ingested), means refused. The row starts as an ``ingesting`` title that the
    workflow's registration fills in.
    """
    try:
        with session_scope(engine) as s:
            s.add(Title(id=title_id, name=name, studio_id=studio_id, version=version))
    except IntegrityError:
        pass  # the id exists: whoever inserted it first owns it
    with Session(engine) as s:
        title = s.get(Title, title_id)
    assert title is not None  # inserted above or already there; titles are never deleted
    return title.studio_id


def transfer_title(engine: Engine, title_id: str, to_studio: str, *, actor: str) -> str | None:
    """Ops: hand a title to another studio; returns the previous owner.

    The callback URL is cleared, so the previous owner's endpoint stops hearing about the
    title; the new owner sets its own with its next delivery. Runs already started keep
    the studio in their memo: the new owner sees versions it delivers itself.
    """
    with session_scope(engine) as s:
        if s.get(Studio, to_studio) is None:
            raise UnknownStudio(to_studio)
        title = s.get(Title, title_id, with_for_update=True)
        if title is None:
            raise TitleNotFound(title_id)
        previous = title.studio_id
        title.studio_id = to_studio
        title.callback_url = None
        title.updated_at = utcnow()
        s.add(title)
        # In the same transaction: the audit trail and the owner never disagree.
        s.add(
            LifecycleEvent(
                title_id=title_id,
                version=title.version,
                event=EVENT_TRANSFERRED,
                actor=actor,
                detail={"from": previous, "to": to_studio},
            )
        )
    return previous
