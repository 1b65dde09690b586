"""Which workflows and activities each worker role hosts."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from reelflow.config import Settings


def workflows_for(role: str) -> Sequence[type]:
    from reelflow.workflows.events_upkeep import EventsUpkeepWorkflow
    from reelflow.workflows.live_channel import LiveChannelWorkflow
    from reelflow.workflows.recs_training import RecsTrainingWorkflow
    from reelflow.workflows.title import TitleWorkflow

    control = [TitleWorkflow, EventsUpkeepWorkflow, RecsTrainingWorkflow, LiveChannelWorkflow]
    return control if role == "control" else []


def activities_for(role: str, settings: Settings) -> Sequence[Callable[..., Any]]:
    from reelflow.activities.deps import Deps

    deps = Deps.from_settings(settings)
    if role == "control":
        from reelflow.activities.catalog_activities import CatalogActivities
        from reelflow.activities.events_upkeep_activities import EventsUpkeepActivities
        from reelflow.activities.publish_activities import PublishActivities
        from reelflow.activities.recs_training_activities import RecsTrainingActivities

        return [
            *CatalogActivities(deps).all(),
            *PublishActivities(deps).all(),
            *EventsUpkeepActivities(deps).all(),
            *RecsTrainingActivities(deps).all(),
        ]
    if role == "media":
        from reelflow.activities.media_activities import MediaActivities
        from reelflow.activities.packaging_activities import PackagingActivities

        return [*MediaActivities(deps).all(), *PackagingActivities(deps).all()]
    if role == "live":
        from reelflow.activities.live_activities import LiveActivities

        return LiveActivities(deps).all()
    raise ValueError(f"unknown worker role {role!r}")
