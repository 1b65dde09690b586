"""The rq queue and a job's own catalog engine, from settings."""

from __future__ import annotations

import contextlib
import uuid
import zlib
from pathlib import Path
from typing import Any

from redis import Redis
from rq import Queue
from sqlalchemy import text

from reelflow.catalog.db import upgrade
from reelflow.config import Settings
from reelflow.jobs.queue import get_queue, get_worker, job_catalog, redis_connection


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


class _RunsOnUnpickle:
    """A job argument that, unpickled, creates ``marker``: what a write to Redis could plant."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[Path]]:
        return (Path.touch, (self.marker,))


def test_a_pickled_job_planted_in_redis_never_runs_code_in_the_worker(
    tmp_path: Path, redis_url: str
) -> None:
    settings = Settings(home=tmp_path, redis_url=redis_url, rq_queue=f"t-{uuid.uuid4().hex[:8]}")
    marker = tmp_path / "ran"
    connection = redis_connection(settings)
    # rq's default (pickle) serializer, as an attacker with Redis access would write it
    planted = Queue(settings.rq_queue, connection=connection).enqueue(
        print, _RunsOnUnpickle(marker)
    )
    with contextlib.suppress(Exception):  # the worker may refuse the job loudly: fine
        get_worker(settings, connection).work(burst=True, max_jobs=1)
    assert not marker.exists()
    assert get_queue(settings, connection).serializer is not None
    assert planted.id not in get_queue(settings, connection).finished_job_registry.get_job_ids()


def test_jobs_round_trip_as_json(tmp_path: Path, redis_url: str) -> None:
    settings = Settings(home=tmp_path, redis_url=redis_url, rq_queue=f"t-{uuid.uuid4().hex[:8]}")
    connection = redis_connection(settings)
    job = get_queue(settings, connection).enqueue("builtins.len", {"a": 1, "b": 2})
    raw = connection.hget(f"rq:job:{job.id}", "data")
    assert raw is not None and b'"builtins.len"' in zlib.decompress(raw)
    get_worker(settings, connection).work(burst=True, max_jobs=1)
    job.refresh()
    assert job.return_value() == 2
