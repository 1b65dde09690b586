"""The rq queue every reelflow job goes through, built from settings."""

from __future__ import annotations

from redis import Redis
from rq import Queue

from reelflow.config import Settings


def redis_connection(settings: Settings) -> Redis:
    return Redis.from_url(settings.redis_url)


def get_queue(settings: Settings, connection: Redis | None = None) -> Queue:
    """The configured rq queue (`settings.rq_queue` on `settings.redis_url`)."""
    return Queue(settings.rq_queue, connection=connection or redis_connection(settings))
