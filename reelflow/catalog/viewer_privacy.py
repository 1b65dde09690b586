"""A viewer's privacy in the catalog: their analytics choice and the erasure audit log.

The choice is read and written by ``events/consent.py`` (which keeps the Redis mirror the
ingest path reads); the audit rows by ``events/service.py`` (``Events.erase``) and read by
``GET /v1/admin/erasures``. Synchronous SQLAlchemy: the API calls it through a thread.
"""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from reelflow.catalog.db import session_scope
from reelflow.catalog.models import ErasureAudit, ErasureStatus, ViewerPrivacy, as_utc, utcnow

MAX_REASON_CHARS = 1000


# ---- analytics consent ---------------------------------------------------------------------


def consent_choice(engine: Engine, account: str) -> bool | None:
    """The account's own choice; None when it has made none (the default applies)."""
    with Session(engine) as s:
        row = s.get(ViewerPrivacy, account)
        return None if row is None else row.analytics_consent


def set_consent_choice(engine: Engine, account: str, consent: bool) -> None:
    """Record the account's choice (the first choice inserts, later ones update)."""
    for attempt in (1, 2):
        try:
            with session_scope(engine) as s:
                row = s.get(ViewerPrivacy, account)
                if row is None:
                    row = ViewerPrivacy(account=account, analytics_consent=consent)
                row.analytics_consent = consent
                row.updated_at = utcnow()
                s.add(row)
            return
        except IntegrityError:
            # Two first choices at once: the other inserted; the second pass updates it.
            if attempt == 2:
                raise


# ---- the erasure audit log -----------------------------------------------------------------


def start_erasure(engine: Engine, account: str, actor: str) -> ErasureAudit:
    """The audit row of an erasure about to run, committed before anything is removed."""
    with session_scope(engine) as s:
        row = ErasureAudit(account=account, actor=actor, status=ErasureStatus.STARTED)
        s.add(row)
    return _utc(row)


def end_erasure(
    engine: Engine,
    audit_id: int,
    counts: dict[str, int],
    *,
    reason: str | None = None,
) -> ErasureAudit:
    """Close an audit row: ``done`` with the counts, or ``failed`` with ``reason`` and what
    was removed before the failure."""
    with session_scope(engine) as s:
        row = s.get(ErasureAudit, audit_id)
        if row is None:
            raise LookupError(f"no erasure audit row {audit_id}")
        row.stream_entries = counts.get("stream_entries", 0)
        row.files_rewritten = counts.get("files_rewritten", 0)
        row.rows = counts.get("rows", 0)
        row.status = ErasureStatus.DONE if reason is None else ErasureStatus.FAILED
        row.reason = None if reason is None else reason[:MAX_REASON_CHARS]
        row.finished_at = utcnow()
        s.add(row)
    return _utc(row)


def recent_erasures(
    engine: Engine, *, limit: int, before: int | None = None, account: str | None = None
) -> list[ErasureAudit]:
    """Audit rows newest first; ``before`` (an id) pages on, ``account`` narrows to one."""
    stmt = select(ErasureAudit)
    if before is not None:
        stmt = stmt.where(col(ErasureAudit.id) < before)
    if account is not None:
        stmt = stmt.where(ErasureAudit.account == account)
    with Session(engine) as s:
        rows = list(s.exec(stmt.order_by(col(ErasureAudit.id).desc()).limit(limit)))
    return [_utc(row) for row in rows]


def _utc(row: ErasureAudit) -> ErasureAudit:
    """The row with aware times (SQLite hands back naive ones); called once it is detached."""
    row.started_at = as_utc(row.started_at) or row.started_at
    row.finished_at = as_utc(row.finished_at)
    return row
