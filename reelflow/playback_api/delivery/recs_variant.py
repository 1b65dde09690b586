"""Which recommendation model serves a viewer's home and search, and its exposure.

The model is an experiment variant (issue 23): a running experiment whose variant config
names ``recs_model`` (experiments/recs_config.py checks the name at create time) decides it
for the viewers it assigns, through the same in-process assigner as the playback start
(``ApiContext.experiments``, delivery/experiment_exposure.py): one assignment rule, the
same answer on every replica and device. A viewer in no such experiment gets
``DEFAULT_MODEL`` and no exposure. Were two running experiments to name a model (an admin
should put them in one layer), the first by key decides, always the same one.

Exposure is logged where the variant is used, once per viewer session and experiment. The
home has no playback session, so its session is a browsing one: a Redis key per viewer and
experiment that lives ``HOME_SESSION_S`` past the viewer's last home or search (the usual
30-minute web-analytics session). The request that creates it logs one ``exposure`` event
through ``append_consented`` like the playback start does (an opted-out viewer gets the
variant, no exposure). The event carries no session id: a session id makes the experiment
results count a playback session (events/experiment_queries.py), and a home visit is none.
A log that refuses the event is counted in ``events_lost`` and the key removed, so the next
visit tries again; the viewer still gets their rows.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from prometheus_client import Counter
from redis.exceptions import RedisError

from reelflow.events.schema import Exposure, store
from reelflow.experiments.assignment import Viewer as Assignee
from reelflow.experiments.recs_config import RECS_MODEL_KEY
from reelflow.playback_api.auth.auth import Viewer
from reelflow.playback_api.delivery.viewer_events import viewer_context
from reelflow.playback_api.delivery.viewer_privacy import append_consented
from reelflow.playback_api.http.context import ApiContext
from reelflow.playback_api.http.observability import device_class
from reelflow.playback_api.http.problems import Problem
from reelflow.recs.viewer_recs import RECS_MODELS, RecsModel, ViewerRecs

log = logging.getLogger(__name__)

DEFAULT_MODEL: RecsModel = "hybrid"
HOME_SESSION_S = 1800
_SESSION_PREFIX = "reelflow:home-session:"


@dataclass(frozen=True)
class RecsVariant:
    model: RecsModel
    experiment: str | None = None  # None: in no experiment that names a model
    variant: str | None = None


def session_key(account: str, experiment: str) -> str:
    # Hashed: a token's sub is the identity provider's and may be long; the key stays short.
    digest = hashlib.sha256(account.encode()).hexdigest()[:32]
    return f"{_SESSION_PREFIX}{experiment}:{digest}"


async def recs_variant(ctx: ApiContext, viewer: Viewer, user_agent: str) -> RecsVariant:
    """The model for this viewer, and the experiment and variant that chose it if any."""
    assigner = await ctx.experiments.assigner()
    if not assigner.experiments:
        return RecsVariant(DEFAULT_MODEL)
    who = Assignee(viewer.sub, viewer.country, viewer.plan, device_class(user_agent))
    assigned = assigner.assign(who)
    for key in sorted(assigned):
        model = assigned[key].config.get(RECS_MODEL_KEY)
        if model in RECS_MODELS:
            return RecsVariant(model, key, assigned[key].variant)
    return RecsVariant(DEFAULT_MODEL)


async def log_exposure(ctx: ApiContext, viewer: Viewer, chosen: RecsVariant, lost: Counter) -> bool:
    """Log the variant's exposure if this is the first use in the viewer's home session;
    True when one was appended (or dropped by the viewer's consent)."""
    if chosen.experiment is None or chosen.variant is None:
        return False
    key = session_key(viewer.sub, chosen.experiment)
    try:
        async with ctx.redis.pipeline(transaction=False) as pipe:
            pipe.set(key, "1", nx=True, ex=HOME_SESSION_S)
            pipe.expire(key, HOME_SESSION_S)  # a visit keeps the session going
            created, _ = await pipe.execute()
    except RedisError as exc:
        lost.labels("exposure").inc()
        log.warning("home session not read: %s", type(exc).__name__)
        return False
    if not created:
        return False
    now = datetime.now(UTC)
    event = Exposure(
        type="exposure",
        id=uuid.uuid4(),
        ts=now,
        experiment=chosen.experiment,
        variant=chosen.variant,
    )
    try:
        await append_consented(ctx, viewer, [store(event, viewer_context(ctx, viewer), now=now)])
    except (RedisError, Problem) as exc:  # Problem: the log or the consent mirror is down
        lost.labels("exposure").inc()
        log.warning("event log refused a home exposure: %s", type(exc.__cause__ or exc).__name__)
        await _forget(ctx, key)
        return False
    return True


async def _forget(ctx: ApiContext, key: str) -> None:
    # Redis down: the session then ends on its TTL, one exposure fewer (counted above).
    with contextlib.suppress(RedisError):
        await ctx.redis.delete(key)


async def viewer_recs(
    ctx: ApiContext, viewer: Viewer, user_agent: str, lost: Counter
) -> tuple[RecsVariant, ViewerRecs | None]:
    """The viewer's variant and lists (None when Redis fails: the home then shows the rows
    that need none), the exposure logged."""
    chosen = await recs_variant(ctx, viewer, user_agent)
    try:
        recs = await ctx.recs.viewer_recs(viewer.sub, viewer.country, chosen.model)
    except RedisError as exc:
        log.warning("recommendations not read: %s", type(exc).__name__)
        return chosen, None
    await log_exposure(ctx, viewer, chosen, lost)
    return chosen, recs
