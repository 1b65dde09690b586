"""What ``EventsUpkeepWorkflow`` and its activities exchange, and the activities' wire names.

Counts per event type only, never a list of partitions or files: a store holds thousands of
hours, which stay in the store and are walked by the activity that works them (its
heartbeat details show how far it got). Instants travel as ISO 8601 strings, as in
``contracts``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# As they sit in histories: renaming one breaks the replay of a running upkeep.
PLAN_EVENTS_UPKEEP = "plan_events_upkeep"
UPKEEP_EVENT_TYPE = "upkeep_event_type"
EXPIRE_EVENTS = "expire_events"


@dataclass
class UpkeepRequest:
    # The instant the run works as of (which hours are over, what is past retention);
    # None: when the run starts, as the schedule's runs do. Never later than that: a run
    # "from the future" would expire events still inside their retention.
    now: str | None = None


@dataclass
class UpkeepAt:
    now: str  # the run's instant, resolved


@dataclass
class TypeWork:
    event_type: str
    hours: int  # closed hours with work left (to compact, or an aggregate to write)


@dataclass
class UpkeepPlan:
    types: list[TypeWork]  # only types with work


@dataclass
class TypeUpkeepRequest:
    event_type: str
    now: str


@dataclass
class TypeUpkeepResult:
    event_type: str
    hours: int  # pending closed hours worked on
    compacted: int  # partitions compacted to one file
    aggregated: int  # hourly aggregates written


@dataclass
class ExpireResult:
    files_by_type: dict[str, int]  # raw files deleted past retention
    aggregated: int  # aggregates written first, for hours no upkeep had reached


@dataclass
class TypeProgress:
    event_type: str
    hours: int
    state: str = "pending"  # pending | running | done
    compacted: int = 0
    aggregated: int = 0


@dataclass
class UpkeepProgress:
    """The workflow's ``progress`` query."""

    now: str = ""
    stage: str = "plan"  # plan | upkeep | expire | done
    types: list[TypeProgress] = field(default_factory=list)


@dataclass
class UpkeepSummary:
    """What one run did: the workflow's result."""

    now: str
    types: list[TypeUpkeepResult]
    files_expired: dict[str, int]
    partitions_compacted: int
    hours_aggregated: int
