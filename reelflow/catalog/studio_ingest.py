"""Catalog rows behind a studio's ingest: Idempotency-Key records and title ownership.

Blocking (SQLAlchemy sessions): the API calls these in a worker thread. One
``ingest_requests`` row per (studio, Idempotency-Key) is claimed while the first request
is in flight (``status_code == PENDING``) and completed with the answer to replay; the
unique constraint on that pair is what makes a claim exclusive.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from reelflow.catalog.db import session_scope
from reelflow.catalog.models import IngestRequestRow, Title

__all__ = [
    "PENDING",
    "claim_ingest_request",
    "complete_ingest_request",
    "find_ingest_request",
    "find_title",
    "release_ingest_request",
]

# IngestRequestRow.status_code while the first request is still in flight: no HTTP status
# is 0, so a stored answer is never mistaken for a claim.
PENDING = 0


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
