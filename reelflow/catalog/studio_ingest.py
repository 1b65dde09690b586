"""Catalog rows behind a studio's ingest: Idempotency-Key records and title ownership.

Blocking (SQLAlchemy sessions): the API calls these in a worker thread. One
``ingest_requests`` row per (studio, Idempotency-Key) is claimed while the first request
is in flight (``status_code == PENDING``) and completed with the answer to replay; the
unique constraint on that pair is what makes a claim exclusive.

Title ids are per studio: a studio's title ``x`` is the catalog title ``<studio>--x``
(``claim_title``; titles claimed before 0008 kept their bare id), found again by the
unique (studio_id, studio_title_id) pair. So no studio's delivery can collide with, or
learn about, another studio's titles. The first accepted ingest inserts the row; the
primary key and that pair make the insert exclusive on SQLite and PostgreSQL alike. After
that the owner changes only by ``transfer_title`` (ops, ``reelflow titles transfer``);
registration never rewrites it (``titles.upsert_title``).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from sqlalchemy import delete, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from reelflow.catalog.db import session_scope
from reelflow.catalog.models import (
    IngestRequestRow,
    LifecycleEvent,
    Package,
    Studio,
    Title,
    TitleState,
    utcnow,
)
from reelflow.catalog.titles import TitleNotFound
from reelflow.domain.ids import TITLE_ID_MAX_LENGTH, is_title_id

__all__ = [
    "EVENT_TRANSFERRED",
    "NAMESPACE_SEPARATOR",
    "PENDING",
    "BadStudioTitleId",
    "NameTakenByNewOwner",
    "TitleClaim",
    "UnknownStudio",
    "claim_ingest_request",
    "claim_title",
    "complete_ingest_request",
    "find_ingest_request",
    "find_studio_title",
    "release_ingest_request",
    "release_title",
    "studio_catalog_id",
    "transfer_title",
    "version_is_final",
]

# IngestRequestRow.status_code while the first request is still in flight: no HTTP status
# is 0, so a stored answer is never mistaken for a claim.
PENDING = 0
EVENT_TRANSFERRED = "ownership_transferred"
# Events (workflows/) after which a version's closed run is final: a redelivery of it
# joins that run instead of starting anew.
FINAL_EVENTS = ("published", "taken_down", "rejected")
NAMESPACE_SEPARATOR = "--"


class TitleClaim(NamedTuple):
    catalog_id: str
    created: bool  # claimed by this call (a failed first start may release it)


class UnknownStudio(LookupError):
    def __init__(self, studio_id: str) -> None:
        super().__init__(f"no studio with id {studio_id!r}")


class BadStudioTitleId(ValueError):
    """A new studio title id that does not fit the studio's namespace; says why."""


class NameTakenByNewOwner(ValueError):
    def __init__(self, studio_id: str, studio_title_id: str) -> None:
        super().__init__(f"studio {studio_id!r} already has a title named {studio_title_id!r}")


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


def studio_catalog_id(studio_id: str, studio_title_id: str) -> str:
    """The catalog id of a title a studio claims now: ``<studio>--<its id>``.

    One-to-one, as the studio's part never holds ``--`` and starts with a letter or
    digit: the catalog id splits only at its last ``--``."""
    return f"{studio_id}{NAMESPACE_SEPARATOR}{studio_title_id}"


def find_studio_title(engine: Engine, studio_id: str, studio_title_id: str) -> Title | None:
    """The catalog row a studio names ``studio_title_id``; None when it has no such title."""
    with Session(engine) as s:
        stmt = select(Title).where(
            Title.studio_id == studio_id, Title.studio_title_id == studio_title_id
        )
        return s.exec(stmt).first()


def claim_title(
    engine: Engine, studio_id: str, studio_title_id: str, name: str, version: int = 1
) -> TitleClaim | None:
    """The studio's title ``studio_title_id``, claimed now if it is new: its catalog id.

    Each studio has a namespace of its own (``studio_catalog_id``), so what another studio
    holds never decides the answer. None: the namespaced catalog id is taken by a title
    that is not this studio's under this name (ops ingested it, or ops transferred it
    away). ``BadStudioTitleId`` when a new id does not fit the namespace. The row starts
    as an ``ingesting`` title that the workflow's registration fills in.
    """
    found = find_studio_title(engine, studio_id, studio_title_id)
    if found is not None:
        return TitleClaim(found.id, created=False)
    if NAMESPACE_SEPARATOR in studio_title_id:
        raise BadStudioTitleId(f"a new title id may not contain {NAMESPACE_SEPARATOR!r}")
    catalog_id = studio_catalog_id(studio_id, studio_title_id)
    if not is_title_id(catalog_id):
        room = TITLE_ID_MAX_LENGTH - len(studio_id) - len(NAMESPACE_SEPARATOR)
        raise BadStudioTitleId(f"your title ids may be at most {room} characters long")
    row = Title(
        id=catalog_id,
        name=name,
        studio_id=studio_id,
        studio_title_id=studio_title_id,
        version=version,
    )
    try:
        with session_scope(engine) as s:
            s.add(row)
        return TitleClaim(catalog_id, created=True)
    except IntegrityError:
        pass  # a racing delivery of the same title, or the catalog id is someone else's
    found = find_studio_title(engine, studio_id, studio_title_id)
    return TitleClaim(found.id, created=False) if found is not None else None


def release_title(engine: Engine, catalog_id: str, studio_id: str) -> bool:
    """Drop a claim whose first delivery never started a run: still ``ingesting``, nothing
    recorded against it. False when anything came of it (then it stays)."""
    try:
        with session_scope(engine) as s:
            title = s.get(Title, catalog_id, with_for_update=True)
            if title is None or title.studio_id != studio_id:
                return False
            if title.state != TitleState.INGESTING or _has_events(s, catalog_id):
                return False
            s.delete(title)
    except IntegrityError:
        return False  # rows point at it (assets, versions): something did come of it
    return True


def version_is_final(engine: Engine, catalog_id: str, version: int) -> bool:
    """Whether a closed run of this version must stay closed: it was published (a package
    or the event), or ops took it down or rejected it. Otherwise (failed, QC failed,
    terminated) the studio may deliver the version again and a new run starts."""
    with Session(engine) as s:
        package = s.exec(
            select(Package.id).where(Package.title_id == catalog_id, Package.version == version)
        ).first()
        event = s.exec(
            select(LifecycleEvent.id).where(
                LifecycleEvent.title_id == catalog_id,
                LifecycleEvent.version == version,
                col(LifecycleEvent.event).in_(FINAL_EVENTS),
            )
        ).first()
    return package is not None or event is not None


def _has_events(s: Session, catalog_id: str) -> bool:
    stmt = select(LifecycleEvent.id).where(LifecycleEvent.title_id == catalog_id).limit(1)
    return s.exec(stmt).first() is not None


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
        # The new owner names it as the old one did (an ops title: by its catalog id),
        # unless that name is taken in the new owner's namespace.
        name = title.studio_title_id or title_id
        clash = s.exec(
            select(Title.id).where(Title.studio_id == to_studio, Title.studio_title_id == name)
        ).first()
        if clash is not None and clash != title_id:
            raise NameTakenByNewOwner(to_studio, name)
        title.studio_id = to_studio
        title.studio_title_id = name
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
