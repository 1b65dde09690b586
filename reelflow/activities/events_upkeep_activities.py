"""The viewer events' hourly upkeep as control-queue activities: plan, one event type's
compaction and aggregates, retention. Thin over ``events.upkeep`` (the code path
``reelflow events compact`` runs too), each idempotent: a retry finds finished hours
finished and redoes at most the hour it was in.

They heartbeat on a timer (``auto_heartbeat``) whatever a partition takes, with the hours
done out of the hours pending as details, so ``temporal workflow describe`` shows how far
an attempt got inside a type (waiting for a running erasure's lock included). They need
Redis for that lock: ``REELFLOW_REDIS_URL`` on the control workers.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import redis
from temporalio.exceptions import ApplicationError

from reelflow.activities.deps import Deps
from reelflow.activities.heartbeat import auto_heartbeat, current_progress
from reelflow.activities.payloads import aware_instant
from reelflow.config import ConfigError
from reelflow.events import upkeep
from reelflow.events.queries import EventFiles
from reelflow.events.retention import retention_from_settings
from reelflow.events.schema import EVENT_TYPES
from reelflow.events.service import upkeep_lock
from reelflow.lifecycle import activity_defs as defs
from reelflow.lifecycle import events_upkeep as u
from reelflow.lifecycle.activity_defs import implements


class EventsUpkeepActivities:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.files = EventFiles.from_settings(deps.settings)
        # For the erasures' lock only (connects on first use).
        self.redis = redis.Redis.from_url(deps.settings.redis_url)

    def _exclusive(self) -> AbstractContextManager[object]:
        return upkeep_lock(self.redis)

    def all(self) -> list[Callable[..., Any]]:
        return [self.plan_events_upkeep, self.upkeep_event_type, self.expire_events]

    @implements(defs.plan_events_upkeep)
    @auto_heartbeat
    def plan_events_upkeep(self, req: u.UpkeepAt) -> u.UpkeepPlan:
        now, progress = aware_instant(req.now), current_progress()
        types = []
        for done, event_type in enumerate(EVENT_TYPES):
            progress.update("plan", done=done, total=len(EVENT_TYPES), unit="types")
            hours = len(upkeep.pending(self.deps.store, event_type, now))
            if hours:
                types.append(u.TypeWork(event_type, hours))
        return u.UpkeepPlan(types)

    @implements(defs.upkeep_event_type)
    @auto_heartbeat
    def upkeep_event_type(self, req: u.TypeUpkeepRequest) -> u.TypeUpkeepResult:
        progress = current_progress()
        step = f"upkeep {req.event_type}"

        def report(done: int, total: int) -> None:
            progress.update(step, done=done, total=total, unit="hours")

        done = upkeep.upkeep_type(
            self.deps.store,
            self.files,
            req.event_type,
            aware_instant(req.now),
            report,
            self._exclusive,
        )
        return u.TypeUpkeepResult(done.event_type, done.hours, done.compacted, done.aggregated)

    @implements(defs.expire_events)
    @auto_heartbeat
    def expire_events(self, req: u.UpkeepAt) -> u.ExpireResult:
        try:
            retention = retention_from_settings(self.deps.settings)
        except ConfigError as exc:
            # No retry mends a setting: the run fails, named, until the worker is fixed.
            raise ApplicationError(str(exc), type="ConfigError", non_retryable=True) from None
        current_progress().update("expire")
        now = aware_instant(req.now)
        expiry = upkeep.expire_raw(self.deps.store, self.files, now, retention, self._exclusive)
        return u.ExpireResult(expiry.files_by_type, expiry.aggregated)
