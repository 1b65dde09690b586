"""The rq queue every reelflow job goes through, and its workers, built from settings.

Jobs travel as JSON (rq's JSONSerializer), never pickle: rq's default would unpickle
whatever a job hash in Redis holds, so anyone who could write to Redis could run code in the
worker, the process that holds the catalog and, through it, the studios' webhook secrets. A
job's function is then only ever one importable by name, and its argument plain data (the
webhook job takes a dict). A queue still holding pickled jobs from before is drained by the
old workers first (docs/deployment.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from redis import Redis
from rq import Queue, Worker
from rq.serializers import JSONSerializer
from sqlalchemy.engine import Engine

from reelflow.catalog.db import make_engine, pool_size
from reelflow.config import Settings


def redis_connection(settings: Settings) -> Redis:
    return Redis.from_url(settings.redis_url)


def get_queue(settings: Settings, connection: Redis | None = None) -> Queue:
    """The configured rq queue (`settings.rq_queue` on `settings.redis_url`)."""
    return Queue(
        settings.rq_queue,
        connection=connection or redis_connection(settings),
        serializer=JSONSerializer,
    )


def get_worker(settings: Settings, connection: Redis | None = None) -> Worker:
    """An rq worker on the configured queue, reading jobs as JSON like they are written."""
    conn = connection or redis_connection(settings)
    return Worker([get_queue(settings, conn)], connection=conn, serializer=JSONSerializer)


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
