"""Which lifecycle events a studio is told about: the workflow's notify step asks for every
event and only these reach the queue."""

from __future__ import annotations

from pathlib import Path

from temporalio.testing import ActivityEnvironment

from reelflow.activities.deps import Deps
from reelflow.activities.publish_activities import PublishActivities
from reelflow.config import Settings
from reelflow.lifecycle import contracts as c
from reelflow.storage import LocalStore
from reelflow.studios.events import STUDIO_EVENTS


def test_the_studio_events() -> None:
    assert {"ingested", "qc_failed", "published", "expired", "taken_down"} == STUDIO_EVENTS


def test_internal_events_are_not_sent(tmp_path: Path) -> None:
    # No catalog and no Redis: an internal event must not get as far as either.
    deps = Deps(Settings(home=tmp_path), None, LocalStore(tmp_path))  # type: ignore[arg-type]
    notify = PublishActivities(deps).notify_studio
    for event in ("encoded", "packaged", "approved"):
        assert ActivityEnvironment().run(notify, c.NotifyRequest("film", 1, event, {})) is None
