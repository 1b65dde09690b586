"""The rq queue every reelflow job goes through, built from settings."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from redis import Redis
from rq import Queue
from sqlalchemy.engine import Engine

from reelflow.catalog.db import make_engine, pool_size
from reelflow.config import Settings


def redis_connection(settings: Settings) -> Redis:
    return Redis.from_url(settings.redis_url)


def get_queue(settings: Settings, connection: Redis | None = None) -> Queue:
    """The configured rq queue (`settings.rq_queue` on `settings.redis_url`)."""
    return Queue(settings.rq_queue, connection=connection or redis_connection(settings))


@contextmanager
def job_catalog(settings: Settings) -> Iterator[Engine]:
    """A catalog engine for one rq job: jobs run in forked work horses, so each opens (and
    disposes of) its own connections rather than inheriting a parent's pool."""
    pool = pool_size("rq", settings.db_pool_size, settings.db_max_overflow)
    engine = make_engine(settings.resolved_database_url, pool=pool)
    try:
        yield engine
    finally:
        engine.dispose()
