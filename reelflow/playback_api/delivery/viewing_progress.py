"""Resume positions ("continue watching"): one row per account and title in the catalog."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from reelflow.catalog.db import session_scope
from reelflow.catalog.models import ViewingProgress, utcnow

# Past this share of the duration a title counts as finished: no resume, not "continuing".
FINISHED_FRACTION = 0.95
# Resuming in the first seconds is no better than starting over.
MIN_RESUME_S = 5.0


def save_progress(
    engine: Engine, account: str, title_id: str, position_s: float, duration_s: float | None
) -> None:
    with session_scope(engine) as s:
        row = s.get(ViewingProgress, (account, title_id)) or ViewingProgress(
            account=account, title_id=title_id
        )
        row.position_s = position_s
        if duration_s:
            row.duration_s = duration_s
        row.updated_at = utcnow()
        s.add(row)


def resume_position(
    engine: Engine, account: str, title_id: str, duration_s: float | None = None
) -> float:
    """Where playback should start: the saved position, or 0 when unstarted or finished."""
    with Session(engine) as s:
        row = s.get(ViewingProgress, (account, title_id))
    if row is None:
        return 0.0
    return effective_position(row.position_s, duration_s or row.duration_s)


def stored_position(engine: Engine, account: str, title_id: str) -> float:
    """The raw saved position (0 when none), before the resume rules below."""
    with Session(engine) as s:
        row = s.get(ViewingProgress, (account, title_id))
    return row.position_s if row is not None else 0.0


def effective_position(position_s: float, duration_s: float | None) -> float:
    if position_s < MIN_RESUME_S:
        return 0.0
    if duration_s and position_s >= FINISHED_FRACTION * duration_s:
        return 0.0
    return position_s


def recent_progress(engine: Engine, account: str, limit: int = 50) -> list[ViewingProgress]:
    """The account's progress rows, most recent first."""
    with Session(engine) as s:
        stmt = (
            select(ViewingProgress)
            .where(ViewingProgress.account == account)
            .order_by(col(ViewingProgress.updated_at).desc())
            .limit(limit)
        )
        return list(s.exec(stmt))
