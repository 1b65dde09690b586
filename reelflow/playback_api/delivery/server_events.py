"""The events the API records itself (server-side only: ``events.schema.SERVER_EVENTS``).

A player could forge or forget these, so the API makes them where the thing happens. They
reach the log the way every viewer event does (``viewer_privacy.append_consented``: an
opted-out viewer's behavioural events are dropped), but where the request they record
matters more than the record: a viewer came to play, not to be counted. An event log (or
consent mirror) that refuses the append is logged and counted, never the caller's error.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from prometheus_client import Counter
from redis.exceptions import RedisError

from reelflow.events.schema import SessionStart, StoredEvent, store
from reelflow.playback_api.auth.auth import Viewer
from reelflow.playback_api.delivery.sessions import PlaybackSession
from reelflow.playback_api.delivery.viewer_events import viewer_context
from reelflow.playback_api.delivery.viewer_privacy import append_consented
from reelflow.playback_api.http.context import ApiContext
from reelflow.playback_api.http.problems import Problem

log = logging.getLogger(__name__)


def session_start_event(
    ctx: ApiContext,
    viewer: Viewer,
    session: PlaybackSession,
    protocols: Sequence[str],
    resume_s: float,
) -> StoredEvent:
    """The ``session_start`` event of a session the API has just started."""
    now = datetime.now(UTC)
    event = SessionStart.model_validate(
        {
            "type": "session_start",
            "id": uuid.uuid4(),
            "ts": now,
            "title": session.title_id,
            "drm": list(session.drm),
            "protocols": list(dict.fromkeys(protocols)),
            "max_height": session.max_height,
            "position_s": resume_s,
        }
    )
    # The session's own device and dimensions: what its lease was taken under.
    known = {"session": session.session_id, "device": session.device_id}
    known |= {"plan": session.plan, "country": session.country}
    return store(event, viewer_context(ctx, viewer).model_copy(update=known), now=now)


async def record(ctx: ApiContext, viewer: Viewer, event: StoredEvent, lost: Counter) -> None:
    """Append a server-side event as the viewer's consent allows; a refusal is counted in
    ``lost`` (by type) and logged, and the caller goes on."""
    try:
        await append_consented(ctx, viewer, [event])
    except (RedisError, Problem) as exc:  # Problem: the log or the consent mirror is down
        lost.labels(event.type).inc()
        cause = exc.__cause__ or exc
        log.warning("event log refused a %s event: %s", event.type, type(cause).__name__)
