"""Resume positions ("continue watching"): the rules over the stored position.

The rows (one per account and title) are read and written by reelflow/catalog/viewer_queries.py
(``save_progress``, ``progress_row``, ``recent_progress``).
"""

from __future__ import annotations

from sqlalchemy.engine import Engine

from reelflow.catalog.viewer_queries import progress_row

# Past this share of the duration a title counts as finished: no resume, not "continuing".
FINISHED_FRACTION = 0.95
# Resuming in the first seconds is no better than starting over.
MIN_RESUME_S = 5.0


def resume_position(
    engine: Engine, account: str, title_id: str, duration_s: float | None = None
) -> float:
    """Where playback should start: the saved position, or 0 when unstarted or finished."""
    row = progress_row(engine, account, title_id)
    if row is None:
        return 0.0
    return effective_position(row.position_s, duration_s or row.duration_s)


def stored_position(engine: Engine, account: str, title_id: str) -> float:
    """The raw saved position (0 when none), before the resume rules below."""
    row = progress_row(engine, account, title_id)
    return row.position_s if row is not None else 0.0


def effective_position(position_s: float, duration_s: float | None) -> float:
    if position_s < MIN_RESUME_S:
        return 0.0
    if duration_s and position_s >= FINISHED_FRACTION * duration_s:
        return 0.0
    return position_s
