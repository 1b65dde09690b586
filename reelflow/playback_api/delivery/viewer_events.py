"""The API's side of the viewer event log: who a caller is in it, and appending to it.

The account never reaches the log: events carry its pseudonym (events/pseudonym.py) under
a key derived once from the signing secret.
"""

from __future__ import annotations

from functools import cache

from redis.exceptions import RedisError

from reelflow.events.log import AsyncStreamAppender
from reelflow.events.pseudonym import pseudonym_key, viewer_pseudonym
from reelflow.events.schema import Context, StoredEvent
from reelflow.playback_api.auth.auth import Viewer
from reelflow.playback_api.http.context import ApiContext
from reelflow.playback_api.http.problems import Problem


@cache
def _key(signing_secret: bytes) -> bytes:
    return pseudonym_key(signing_secret)


def viewer_context(ctx: ApiContext, viewer: Viewer) -> Context:
    """What every event of this caller carries: the pseudonym, country, plan, device."""
    key = _key(ctx.settings.secrets().signing_secret)
    return Context(
        viewer=viewer_pseudonym(key, viewer.sub),
        country=viewer.country,
        plan=viewer.plan,
        device=viewer.device,
    )


async def append_events(ctx: ApiContext, events: list[StoredEvent]) -> None:
    """One round trip; a Redis that cannot take them is a 503 problem, not a lost event."""
    try:
        await AsyncStreamAppender(ctx.redis).append(events)
    except RedisError as exc:
        raise Problem("service_unavailable", "the event log is not reachable") from exc
