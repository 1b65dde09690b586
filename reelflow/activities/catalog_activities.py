"""Light activities on the control queue: catalog writes for the lifecycle."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from temporalio.exceptions import ApplicationError

from reelflow.activities.deps import Deps
from reelflow.activities.heartbeat import auto_heartbeat
from reelflow.catalog import titles
from reelflow.lifecycle import activity_defs as defs
from reelflow.lifecycle import contracts as c
from reelflow.lifecycle.activity_defs import implements


class CatalogActivities:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    def all(self) -> list[Callable[..., Any]]:
        return [self.register_title, self.record_event]

    @implements(defs.register_title)
    @auto_heartbeat
    def register_title(self, inp: c.TitleInput) -> None:
        try:
            titles.upsert_title(
                self.deps.engine,
                title_id=inp.title_id,
                name=inp.name,
                synopsis=inp.synopsis,
                genres=inp.genres,
                rating=inp.rating,
                version=inp.version,
                studio_id=inp.studio_id,
                callback_url=inp.callback_url,
            )
        except titles.TitleOwnedElsewhere as exc:
            # No retry makes another studio's title ours: the run ends here.
            raise ApplicationError(str(exc), type="TitleOwnedElsewhere", non_retryable=True)
        # This version's window; the title's only while no other version is live, so a
        # re-delivery does not move the live version's until it publishes.
        titles.set_availability(
            self.deps.engine,
            title_id=inp.title_id,
            version=inp.version,
            window_start=c.parse_instant(inp.availability.window_start),
            window_end=c.parse_instant(inp.availability.window_end),
            regions=inp.availability.regions,
            plans=inp.availability.plans,
        )

    @implements(defs.record_event)
    @auto_heartbeat
    def record_event(self, req: c.EventRequest) -> bool:
        return titles.append_event(
            self.deps.engine,
            title_id=req.title_id,
            version=req.version,
            event=req.event,
            actor=req.actor,
            state=req.state,
            detail=req.detail,
            dedupe_key=req.dedupe_key,
        )
