"""What an account's analytics consent does to its events: the one rule, applied at ingest.

Events are **operational** (the service's own health: QoE, ads delivered, which advertisers
are owed for) or **behavioural** (what the viewer did: played, searched, saw, clicked, which
experiment variant they were shown). For an account that has opted out of analytics,
behavioural events are dropped before they reach the log, and operational ones are kept
but anonymised: the viewer pseudonym becomes ``ANONYMOUS`` and the device is cleared. The
session id stays (it is random per playback, and QoE counts sessions); country and plan
stay (QoE is broken down by them, and they are shared by many viewers).

A new event type is behavioural unless it is added to ``OPERATIONAL_TYPES``: a type nobody
classified is dropped for an opted-out viewer rather than kept.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reelflow.events.schema import StoredEvent

# An account as a viewer token's ``sub`` names it (auth.py): 1 to 256 characters; control
# characters are refused where an account is typed in (the erasure endpoint, the CLI).
ACCOUNT_PATTERN = r"^[^\x00-\x1f\x7f]{1,256}$"
ACCOUNT_RULE = "1 to 256 characters, no control characters"

OPERATIONAL_TYPES = frozenset({"qoe", "ad_impression", "ad_quartile"})
# The pseudonym of no one: pseudonyms start with "v_" (events/pseudonym.py), so it never
# collides with a viewer's, and erasure or export of any account never matches it.
ANONYMOUS = "anonymous"
# What anonymising an operational event changes: the one definition, for models and records.
_ANONYMISED: dict[str, Any] = {"viewer": ANONYMOUS, "device": None}


def is_behavioural(event_type: str) -> bool:
    """Whether an opted-out viewer's event of this type is dropped (else anonymised)."""
    return event_type not in OPERATIONAL_TYPES


def apply_consent(events: Sequence[StoredEvent], consent: bool) -> tuple[list[StoredEvent], int]:
    """The events to append for a viewer with this consent, and how many were dropped."""
    if consent:
        return list(events), 0
    kept = [
        event.model_copy(update=_ANONYMISED) for event in events if not is_behavioural(event.type)
    ]
    return kept, len(events) - len(kept)


def anonymised_records(records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """What an opted-out viewer's records become (``apply_consent``'s rule, on the plain
    records the ingest path builds): the operational ones, anonymised."""
    return [{**record, **_ANONYMISED} for record in records if not is_behavioural(record["type"])]
