"""How long raw events are kept, per event type, from ``REELFLOW_EVENTS_RETENTION_DAYS``.

Raw events are analytics, not records: a type keeps its partitions
``DEFAULT_RETENTION_DAYS`` unless the setting names it (``{"progress": 30}``). Aggregates
derived from raw events (``events.aggregates``) are not raw events and are kept.

The setting is checked here, not in ``config``, because only this layer knows the event
types: a name that is no type (a typo would otherwise keep that type 90 days in silence) or
a count below one day is a ``ConfigError`` naming the variable, raised when a worker or the
upkeep command starts, before anything is deleted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from reelflow.config import ConfigError, Settings
from reelflow.events.schema import EVENT_TYPES

DEFAULT_RETENTION_DAYS = 90
VARIABLE = "REELFLOW_EVENTS_RETENTION_DAYS"


@dataclass(frozen=True)
class Retention:
    """Days kept per event type; types not named keep the default."""

    days: Mapping[str, int] = field(default_factory=dict)

    def of(self, event_type: str) -> timedelta:
        """How long ``event_type``'s raw partitions are kept (the one place that says so)."""
        if event_type not in EVENT_TYPES:
            raise ValueError(f"unknown event type {event_type!r}")
        return timedelta(days=self.days.get(event_type, DEFAULT_RETENTION_DAYS))


def retention_from_settings(settings: Settings) -> Retention:
    """The checked retention setting; ``ConfigError`` names every bad entry at once."""
    problems: list[str] = []
    for name, days in sorted(settings.events_retention_days.items()):
        if name not in EVENT_TYPES:
            problems.append(f"{name!r} is not an event type")
        elif days < 1:
            problems.append(f"{name!r}: {days!r} days; give a whole number of days >= 1")
    if problems:
        raise ConfigError(
            f"{VARIABLE}: {'; '.join(problems)} (event types: {', '.join(EVENT_TYPES)})"
        )
    return Retention(dict(settings.events_retention_days))
