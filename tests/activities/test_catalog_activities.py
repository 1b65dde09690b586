"""register_title refuses another studio's title for good; record_event holds each
transition once."""

from __future__ import annotations

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from reelflow.activities.catalog_activities import CatalogActivities
from reelflow.activities.deps import Deps
from reelflow.catalog import studios as catalog_studios
from reelflow.catalog import titles
from reelflow.lifecycle import contracts as c


def test_another_studios_title_is_refused_for_good(local_deps: Deps) -> None:
    for studio in ("acme", "zeta"):
        catalog_studios.add_studio(
            local_deps.engine,
            studio_id=studio,
            name=studio,
            api_key_sha256=studio * 16,
            sealed_webhook_secret=b"x",
            key_version=1,
        )
    register = CatalogActivities(local_deps).register_title
    env = ActivityEnvironment()
    env.run(register, c.TitleInput("owned", "s", "Film", studio_id="acme"))
    assert titles.get_title(local_deps.engine, "owned").studio_id == "acme"
    with pytest.raises(ApplicationError) as refused:
        env.run(register, c.TitleInput("owned", "s", "Film", studio_id="zeta"))
    assert refused.value.type == "TitleOwnedElsewhere" and refused.value.non_retryable


def test_an_event_is_recorded_once_per_dedupe_key(local_deps: Deps) -> None:
    record = CatalogActivities(local_deps).record_event
    req = c.EventRequest("film", 1, "qc_passed", "workflow", state="qc", dedupe_key="wf:run:qc")
    env = ActivityEnvironment()
    assert env.run(record, req) is True
    assert env.run(record, req) is False
    assert titles.get_title(local_deps.engine, "film").state == "qc"
