"""EventsUpkeepWorkflow end to end on the Temporal dev server: a real control worker with
the real activities over a local store holding events written by the real writer, at a
fixed instant; the summary, the progress query, the store afterwards, and a replay of the
run's own history."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from reelflow.catalog.db import upgrade
from reelflow.config import Settings
from reelflow.events.aggregates import kept_qoe_hours, qoe_hourly
from reelflow.events.log import RedisStreamLog
from reelflow.events.queries import EventFiles, distinct_counts
from reelflow.events.schema import Context, StoredEvent, parse_client_event, store
from reelflow.events.writer import EventWriter
from reelflow.lifecycle import events_upkeep as u
from reelflow.storage import store_from_settings
from reelflow.workers.main import build_worker
from reelflow.workflows.events_upkeep import EventsUpkeepWorkflow

AT = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)  # the run's fixed instant, before today
HOUR = AT.replace(minute=0)
OLD = HOUR - timedelta(days=100)


def _event(type_: str, at: datetime, **fields: object) -> StoredEvent:
    body = {"id": str(uuid.uuid4()), "type": type_, "ts": at.isoformat(), **fields}
    ctx = Context(viewer="v_a", country="FR", plan="basic", session="s1", device="d1")
    return store(parse_client_event(body), ctx, now=at + timedelta(seconds=1))


@pytest.fixture
def settings(tmp_path: Path, task_queue: str, redis_url: str) -> Settings:
    s = Settings(
        home=tmp_path / "state",
        control_queue=f"{task_queue}-control",
        redis_url=redis_url,  # the erasures' lock, held per partition
        events_retention_days={"progress": 30},
    )
    s.ensure_home()
    upgrade(s.resolved_database_url)  # workers refuse a catalog behind the code
    return s


@pytest.fixture
def written(settings: Settings, redis_url: str) -> Iterator[None]:
    """Events in the settings' store, in small files, through the real log and writer."""
    client = redis.Redis.from_url(redis_url)
    log = RedisStreamLog(client, stream=f"test:events:{uuid.uuid4().hex}")
    beacon = {"title": "t1", "startup_ms": 100.0, "played_ms": 900.0, "rebuffer_ms": 100.0}
    events = [
        *(_event("qoe", OLD, **beacon) for _ in range(3)),
        *(_event("qoe", HOUR - timedelta(hours=2), **beacon) for _ in range(2)),
        _event("qoe", AT, **beacon),  # the open hour: left alone
        _event("progress", HOUR - timedelta(days=40), title="t1", position_s=1.0),
        _event("progress", HOUR - timedelta(days=3), title="t1", position_s=2.0),
        _event("search", HOUR - timedelta(days=3), query="q"),
    ]
    try:
        log.append(events)
        writer = EventWriter(log, store_from_settings(settings), "w", batch=2, block_ms=10)
        while writer.step():
            pass
        yield
    finally:
        client.delete(log.stream)
        client.close()


async def test_an_upkeep_run_compacts_aggregates_and_expires(
    temporal_env: WorkflowEnvironment, settings: Settings, written: None
) -> None:
    client = temporal_env.client
    files = EventFiles.from_settings(settings)
    async with build_worker(client, settings, "control"):
        handle = await client.start_workflow(
            EventsUpkeepWorkflow.run,
            u.UpkeepRequest(now=AT.isoformat()),
            id=f"upkeep-{uuid.uuid4().hex[:8]}",
            task_queue=settings.control_queue,
        )
        summary = await handle.result()
        progress = await handle.query(EventsUpkeepWorkflow.progress)
    assert summary.now == AT.isoformat()
    worked = {t.event_type: (t.hours, t.compacted, t.aggregated) for t in summary.types}
    # qoe: the old hour and two hours ago, each compacted after its aggregate was written.
    assert worked == {"qoe": (2, 2, 2), "progress": (2, 2, 0), "search": (1, 1, 0)}
    assert (summary.partitions_compacted, summary.hours_aggregated) == (5, 2)
    assert summary.files_expired == {"qoe": 1, "progress": 1}  # 100 days; 40 > 30 days
    assert progress.stage == "done" and progress.now == AT.isoformat()
    assert [(t.event_type, t.state, t.compacted, t.aggregated) for t in progress.types] == [
        ("progress", "done", 2, 0),
        ("qoe", "done", 2, 2),
        ("search", "done", 1, 0),
    ]
    counts = distinct_counts(files)
    assert (counts["qoe"], counts["progress"], counts["search"]) == (3, 1, 1)
    store = store_from_settings(settings)
    assert kept_qoe_hours(store) == {OLD, HOUR - timedelta(hours=2)}
    [old_cell] = qoe_hourly(files, OLD, OLD + timedelta(hours=1)).to_pylist()
    assert old_cell["beacons"] == 3 and old_cell["rebuffer_ratio"] == pytest.approx(0.1)
    # The run's own history replays against the workflow as it is.
    history = await handle.fetch_history()
    replayed = await Replayer(workflows=[EventsUpkeepWorkflow]).replay_workflow(
        history, raise_on_replay_failure=False
    )
    assert replayed.replay_failure is None


async def test_a_run_as_of_a_later_instant_than_its_start_is_refused(
    temporal_env: WorkflowEnvironment, settings: Settings
) -> None:
    client = temporal_env.client
    later = datetime.now(UTC) + timedelta(days=1)
    async with build_worker(client, settings, "control"):
        with pytest.raises(WorkflowFailureError) as failed:
            await client.execute_workflow(
                EventsUpkeepWorkflow.run,
                u.UpkeepRequest(now=later.isoformat()),
                id=f"upkeep-{uuid.uuid4().hex[:8]}",
                task_queue=settings.control_queue,
            )
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "BadInstant"
    assert "after the run's start" in cause.message
