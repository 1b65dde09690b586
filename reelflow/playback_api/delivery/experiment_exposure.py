"""Experiments at playback start: the viewer's variants in the answer, one exposure each.

The running experiments are held in-process as one ``Assigner``, reloaded from the catalog
when older than ``REFRESH_S`` (a TTL: another process's start or stop, the CLI's or another
replica's, is seen within it) and at once when this process's admin API changes one
(``invalidate``). While a reload runs, starts are answered from the previous set for at most
half a second; a reload the catalog refuses keeps the last set it gave.

Assignment is GrowthBook's hashing of the token's ``sub`` (experiments/assignment.py) with
the token's country and plan and the User-Agent's device class as the target sees them. A
viewer outside an experiment gets no key for it and no exposure. Each variant handed out is
logged as one ``exposure`` event of the new session (so one per session and experiment),
through ``append_consented`` like every viewer event: an opted-out viewer still gets the
variant, but no exposure is kept. An exposure the log refuses is counted and logged, never
the viewer's error: playback goes on.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from prometheus_client import Counter
from pydantic import BaseModel, Field
from redis.exceptions import RedisError
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from reelflow.events.schema import Exposure, StoredEvent, store
from reelflow.experiments.assignment import Assigner, InvalidExperiment
from reelflow.experiments.assignment import Viewer as Assignee
from reelflow.experiments.registry import running_assigner
from reelflow.playback_api.auth.auth import Viewer
from reelflow.playback_api.delivery.sessions import PlaybackSession
from reelflow.playback_api.delivery.title_cache import TTLCache
from reelflow.playback_api.delivery.viewer_events import viewer_context
from reelflow.playback_api.delivery.viewer_privacy import append_consented
from reelflow.playback_api.http.observability import device_class
from reelflow.playback_api.http.problems import Problem

if TYPE_CHECKING:
    from reelflow.playback_api.http.context import ApiContext

log = logging.getLogger(__name__)

# How long a start or stop made elsewhere may go unseen by this process.
REFRESH_S = 5.0
_RUNNING = "running"


class AssignedVariant(BaseModel):
    variant: str = Field(description="the variant's key")
    config: dict[str, Any] = Field(description="what the player applies for it")


class RunningExperiments:
    """The running experiments' assigner, cached (see the module's docstring)."""

    def __init__(self, engine: Engine, refresh_s: float = REFRESH_S) -> None:
        self._engine = engine
        self._cache: TTLCache[str, Assigner] = TTLCache(refresh_s, max_entries=1)
        self._last = Assigner(())

    def _load(self) -> Assigner:
        try:
            self._last = running_assigner(self._engine)
        except (SQLAlchemyError, InvalidExperiment) as exc:
            # The catalog down (or a definition the assigner refuses): keep assigning as
            # before rather than dropping every viewer out of every experiment.
            log.warning("running experiments not reloaded: %s", type(exc).__name__)
        return self._last

    async def assigner(self) -> Assigner:
        return await self._cache.get(_RUNNING, self._load)

    def invalidate(self) -> None:
        """A start or stop in this process: the next playback start reloads."""
        self._cache.invalidate()


@dataclass(frozen=True)
class Exposures:
    answer: dict[str, AssignedVariant]  # the playback start's "experiments"
    events: list[StoredEvent]  # one exposure per experiment, of the new session


async def assign(
    ctx: ApiContext, viewer: Viewer, session: PlaybackSession, user_agent: str
) -> Exposures:
    """The viewer's variants for the session just started, and their exposure events."""
    assigner = await ctx.experiments.assigner()
    if not assigner.experiments:
        return Exposures({}, [])
    who = Assignee(viewer.sub, viewer.country, viewer.plan, device_class(user_agent))
    assigned = assigner.assign(who)
    if not assigned:
        return Exposures({}, [])
    now = datetime.now(UTC)
    known = {"session": session.session_id, "device": session.device_id}
    where = viewer_context(ctx, viewer).model_copy(update=known)
    events = [
        store(
            Exposure(type="exposure", id=uuid.uuid4(), ts=now, experiment=key, variant=a.variant),
            where,
            now=now,
        )
        for key, a in assigned.items()
    ]
    answer = {
        k: AssignedVariant(variant=a.variant, config=dict(a.config)) for k, a in assigned.items()
    }
    return Exposures(answer, events)


async def record(ctx: ApiContext, viewer: Viewer, exposures: Exposures, lost: Counter) -> None:
    """Append the exposures as the viewer's consent allows; a refusal is counted in ``lost``
    and logged, and the start goes on."""
    if not exposures.events:
        return
    try:
        await append_consented(ctx, viewer, exposures.events)
    except (RedisError, Problem) as exc:  # Problem: the log or the consent mirror is down
        lost.labels("exposure").inc(len(exposures.events))
        log.warning("event log refused exposure events: %s", type(exc.__cause__ or exc).__name__)
