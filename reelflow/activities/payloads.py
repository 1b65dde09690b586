"""Reading what workflows hand activities: one rule for the values every activity needs."""

from __future__ import annotations

from datetime import datetime

from temporalio.exceptions import ApplicationError


def aware_instant(value: str) -> datetime:
    """An ISO 8601 instant with its UTC offset (a workflow's ``now``); one without an offset
    is a caller's bug, not a retryable failure."""
    at = datetime.fromisoformat(value)
    if at.tzinfo is None:
        raise ApplicationError(
            f"{value!r} has no UTC offset", type="BadInstant", non_retryable=True
        )
    return at
