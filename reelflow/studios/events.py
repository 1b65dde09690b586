"""The lifecycle events a studio is told about (everything else stays internal)."""

from __future__ import annotations

__all__ = ["STUDIO_EVENTS"]

# The workflow's notify step and the notification enqueue both filter on this, so a
# studio's callback contract changes in one place.
STUDIO_EVENTS: frozenset[str] = frozenset(
    {"ingested", "qc_failed", "published", "expired", "taken_down"}
)
