"""The rq queue and a job's own catalog engine, from settings."""

from __future__ import annotations

from pathlib import Path

from redis import Redis
from sqlalchemy import text

from reelflow.catalog.db import upgrade
from reelflow.config import Settings
from reelflow.jobs.queue import get_queue, job_catalog, redis_connection


def test_the_queue_is_named_by_settings(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, rq_queue="reelflow-test", redis_url="redis://127.0.0.1:1/3")
    connection = redis_connection(settings)  # lazy: nothing connects until a command
    assert connection.connection_pool.connection_kwargs["db"] == 3
    queue = get_queue(settings, connection=connection)
    assert queue.name == "reelflow-test" and queue.connection is connection
    assert isinstance(get_queue(settings).connection, Redis)


def test_a_job_opens_and_disposes_of_its_own_engine(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    settings.ensure_home()
    upgrade(settings.resolved_database_url)
    with job_catalog(settings) as engine:
        with engine.connect() as conn:
            assert conn.execute(text("select 1")).scalar() == 1
        assert engine.pool.checkedout() == 0
