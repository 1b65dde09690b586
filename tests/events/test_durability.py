"""The event log's durability as processes see it (issue 22, "Durability, as tests").

Real processes throughout: ``reelflow events writer`` subprocesses, a redis-server each
test starts with the production persistence (AOF, ``appendfsync everysec``) in its own
directory, a local store. Counts are compared exactly, through the named queries.

- a writer SIGKILLed while it holds a batch under load: its successor claims the batch,
  no event is lost and none is counted twice;
- Redis stopped (SIGTERM) and restarted on its directory under load, the writer running:
  the backlog survives in the AOF, the writer carries on, the producer's retried batches
  leave no duplicate in answers;
- erasure of one account among a million events (files in the layout plus entries still in
  the stream): no query returns any of its events afterwards.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.fs as pafs
import pytest
import redis

from reelflow.events.log import GROUP, STREAM, RedisStreamLog
from reelflow.events.queries import EventFiles, distinct_counts, viewer_events
from reelflow.events.schema import StoredEvent
from reelflow.events.writer import EventWriter
from reelflow.storage import LocalStore
from tests.events.aof_redis import AofRedis
from tests.services import VENV_BIN

pytestmark = pytest.mark.slow

VIEWER = "v_durable"
CLAIM_IDLE_MS = 2_000  # the successor's wait before it takes a dead writer's batch


def _search(event_id: str) -> StoredEvent:
    now = datetime.now(UTC)
    return StoredEvent(
        id=event_id, type="search", ts=now, server_ts=now, viewer=VIEWER,
        fields={"query": "durable", "results": 1},
    )  # fmt: skip


def wait_for(
    check: Callable[[], Any], timeout_s: float, what: str, log: Callable[[], str] = str
) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.1)
    raise AssertionError(f"{what}: not within {timeout_s} s\n{log()[-3000:]}")


class Producer(threading.Thread):
    """Appends ``ids`` as search events, 100 per round trip at about ``rate`` events/s.

    A batch Redis refused (connection lost, restarting, loading its AOF) is sent again
    whole: ids are client-made, so a batch that was in fact appended becomes a duplicate in
    the log at worst, which answers must not show."""

    def __init__(self, url: str, ids: list[str], rate: int, deadline_s: float = 90) -> None:
        super().__init__(daemon=True)
        self.log = RedisStreamLog(redis.Redis.from_url(url, socket_timeout=5))
        self.ids, self.rate, self.deadline = ids, rate, time.monotonic() + deadline_s
        self.sent = self.retries = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            start = time.monotonic()
            for i in range(0, len(self.ids), 100):
                batch = [_search(event_id) for event_id in self.ids[i : i + 100]]
                self._append(batch)
                self.sent += len(batch)
                time.sleep(max(0.0, start + self.sent / self.rate - time.monotonic()))
        except BaseException as exc:  # reported by the test, not lost in the thread
            self.error = exc

    def _append(self, batch: list[StoredEvent]) -> None:
        while True:
            try:
                self.log.append(batch)
                return
            except (redis.ConnectionError, redis.TimeoutError):
                if time.monotonic() > self.deadline:
                    raise
                self.retries += 1
                time.sleep(0.1)

    def finish(self, timeout_s: float = 60) -> None:
        self.join(timeout_s)
        assert not self.is_alive(), "producer still appending"
        assert self.error is None, repr(self.error)
        assert self.sent == len(self.ids)


class WriterProcess:
    """``reelflow events writer`` with the embedded settings, this Redis and this store."""

    def __init__(self, url: str, base: Path, name: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("REELFLOW_")}
        env |= {
            "REELFLOW_HOME": str(base / "state"),
            "REELFLOW_REDIS_URL": url,
            "REELFLOW_STORE_ROOT": str(base / "objects"),
            "REELFLOW_EVENTS_CLAIM_IDLE_MS": str(CLAIM_IDLE_MS),
        }
        self.log_path = base / f"{name}.log"
        with self.log_path.open("wb") as out:
            self.proc = subprocess.Popen(
                [str(VENV_BIN / "reelflow"), "events", "writer"],
                env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )  # fmt: skip
        self.consumer = f"{socket.gethostname()}-{self.proc.pid}"

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(timeout=10)


def _pending(client: redis.Redis, consumer: str) -> int:
    try:
        consumers = client.xinfo_consumers(STREAM, GROUP)
    except redis.ResponseError:  # no stream or no group yet
        return 0
    for row in consumers:
        name = row["name"].decode() if isinstance(row["name"], bytes) else row["name"]
        if name == consumer:
            return int(row["pending"])
    return 0


def _group_ready(client: redis.Redis) -> bool:
    """The writer process is up: it creates the consumer group before its first read."""
    try:
        return any(g["name"] in (GROUP, GROUP.encode()) for g in client.xinfo_groups(STREAM))
    except redis.ResponseError:  # no stream yet
        return False


def _kill_holding_a_batch(writer: WriterProcess, client: redis.Redis) -> int:
    """SIGKILL the writer at a moment it has read entries it has not acknowledged: frozen
    first (SIGSTOP), and killed only if Redis then shows entries pending for it. Returns
    how many it leaves pending."""
    for _ in range(300):
        os.kill(writer.proc.pid, signal.SIGSTOP)
        time.sleep(0.05)  # anything it sent before freezing has reached Redis by now
        held = _pending(client, writer.consumer)
        if held:
            os.kill(writer.proc.pid, signal.SIGKILL)
            writer.proc.wait(timeout=10)
            return held
        os.kill(writer.proc.pid, signal.SIGCONT)
        time.sleep(0.01)
    raise AssertionError("the writer never held a batch: " + writer.output()[-2000:])


def _answers(base: Path) -> list[str]:
    """The ids the queries return for the producer's viewer, one per row."""
    files = EventFiles(pafs.LocalFileSystem(), str(base / "objects"))
    rows = viewer_events(files, VIEWER)
    assert distinct_counts(files)["search"] == len({r["id"] for r in rows})
    return [str(r["id"]) for r in rows]


@pytest.fixture
def aof_redis(tmp_path: Path) -> Iterator[AofRedis]:
    server = AofRedis(tmp_path / "redis")
    server.start()
    try:
        yield server
    finally:
        server.stop(signal.SIGKILL)


def test_a_writer_killed_mid_batch_loses_nothing_and_its_successor_claims_the_batch(
    aof_redis: AofRedis, tmp_path: Path
) -> None:
    client = redis.Redis.from_url(aof_redis.url)
    ids = [str(uuid.uuid4()) for _ in range(30_000)]
    first = WriterProcess(aof_redis.url, tmp_path, "writer-1")
    successor: WriterProcess | None = None
    producer = Producer(aof_redis.url, ids, rate=8_000)
    try:
        wait_for(lambda: _group_ready(client), 60, "the first writer up", first.output)
        producer.start()
        wait_for(lambda: producer.sent >= 8_000, 60, "a third of the events appended")
        wait_for(lambda: _pending(client, first.consumer) or first.proc.poll() is not None, 60,
                 "the first writer reading")  # fmt: skip
        held = _kill_holding_a_batch(first, client)
        assert first.proc.returncode == -signal.SIGKILL
        successor = WriterProcess(aof_redis.url, tmp_path, "writer-2")
        producer.finish()
        wait_for(lambda: client.xlen(STREAM) == 0, 60, "the backlog written", successor.output)
        # The dead writer's batch moved to the successor (XAUTOCLAIM), and was written.
        assert _pending(client, first.consumer) == 0
        assert client.xpending(STREAM, GROUP)["pending"] == 0
        assert "claimed" in successor.output()
        assert held > 0
        answered = _answers(tmp_path)
        assert len(answered) == len(ids)
        assert set(answered) == set(ids)
        assert successor.stop() == 0, successor.output()
    finally:
        for writer in (first, successor):
            if writer is not None:
                writer.stop()


def test_redis_restarted_under_load_loses_nothing_and_answers_have_no_duplicate(
    aof_redis: AofRedis, tmp_path: Path
) -> None:
    client = redis.Redis.from_url(aof_redis.url)
    ids = [str(uuid.uuid4()) for _ in range(30_000)]
    writer = WriterProcess(aof_redis.url, tmp_path, "writer")
    producer = Producer(aof_redis.url, ids, rate=8_000)
    try:
        wait_for(lambda: _group_ready(client), 60, "the writer up", writer.output)
        producer.start()
        wait_for(lambda: producer.sent >= 8_000, 60, "a third of the events appended")
        wait_for(lambda: any((tmp_path / "objects").rglob("*.parquet")), 60, "the writer writing",
                 writer.output)  # fmt: skip
        # The writer frozen a moment, so Redis stops with a backlog only its AOF holds.
        os.kill(writer.proc.pid, signal.SIGSTOP)
        wait_for(lambda: client.xlen(STREAM) >= 3_000, 30, "a backlog")
        backlog = int(client.xlen(STREAM))
        client.close()
        aof_redis.stop(signal.SIGTERM)
        os.kill(writer.proc.pid, signal.SIGCONT)  # it meets a Redis that is down
        time.sleep(1.5)
        aof_redis.start()
        client = redis.Redis.from_url(aof_redis.url)
        assert client.xlen(STREAM) >= backlog  # nothing appended before the stop is gone
        producer.finish()
        wait_for(lambda: client.xlen(STREAM) == 0, 60, "the backlog written", writer.output)
        assert writer.proc.poll() is None, writer.output()  # it rode the restart out
        answered = _answers(tmp_path)
        assert len(answered) == len(ids)  # no duplicate, though batches were sent again
        assert set(answered) == set(ids)
        print(f"producer batches sent again: {producer.retries}; backlog at the stop {backlog}")
        assert writer.stop() == 0, writer.output()
    finally:
        writer.stop()


def test_the_writer_waits_out_a_redis_outage_and_carries_on(
    aof_redis: AofRedis, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # No client-side retry: every outage reaches the writer's own loop.
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    client = redis.Redis.from_url(aof_redis.url, retry=Retry(NoBackoff(), 0))
    log = RedisStreamLog(client)
    writer = EventWriter(log, LocalStore(tmp_path / "objects"), "w", block_ms=50)
    running = [True]
    thread = threading.Thread(target=writer.run, args=(lambda: running[0],), daemon=True)
    caplog.set_level(logging.WARNING, logger="reelflow.events.writer")
    thread.start()
    try:
        log.append([_search(str(uuid.uuid4())) for _ in range(10)])
        wait_for(lambda: writer.counts.events == 10, 30, "the first events written")
        aof_redis.stop(signal.SIGTERM)
        time.sleep(1.0)
        assert thread.is_alive()
        aof_redis.start()
        RedisStreamLog(redis.Redis.from_url(aof_redis.url)).append(
            [_search(str(uuid.uuid4())) for _ in range(10)]
        )
        wait_for(lambda: writer.counts.events == 20, 30, "the events after the outage written")
    finally:
        running[0] = False
        thread.join(timeout=15)
    assert not thread.is_alive()
    messages = [r.getMessage() for r in caplog.records]
    assert any("retrying until it is back" in m for m in messages), messages
    assert any("back after" in m for m in messages), messages
    # Bounded: one line when it starts, one when it ends (no reminder within a minute).
    assert len([m for m in messages if "events writer:" in m]) == 2, messages


def test_a_writer_started_before_redis_answers_starts_writing_once_it_does(
    aof_redis: AofRedis, tmp_path: Path
) -> None:
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    aof_redis.stop(signal.SIGTERM)
    client = redis.Redis.from_url(aof_redis.url, retry=Retry(NoBackoff(), 0))
    writer = EventWriter(RedisStreamLog(client), LocalStore(tmp_path / "objects"), "w",
                         block_ms=50)  # fmt: skip
    running = [True]
    thread = threading.Thread(target=writer.run, args=(lambda: running[0],), daemon=True)
    thread.start()
    try:
        time.sleep(0.5)
        aof_redis.start()
        RedisStreamLog(redis.Redis.from_url(aof_redis.url)).append(
            [_search(str(uuid.uuid4())) for _ in range(10)]
        )
        wait_for(lambda: writer.counts.events == 10, 30, "the events written")
    finally:
        running[0] = False
        thread.join(timeout=15)
    assert not thread.is_alive()


ERASURE_EVENTS = 1_000_000


def test_erasure_of_one_account_among_a_million_events_leaves_it_in_no_answer(
    aof_redis: AofRedis, tmp_path: Path
) -> None:
    from reelflow.catalog.db import make_engine, upgrade
    from reelflow.events.queries import qoe_cells_table
    from reelflow.events.service import Events
    from tests.events.bulk_events import HOURS, TYPES, generate

    store = LocalStore(tmp_path / "objects")
    files = EventFiles(pafs.LocalFileSystem(), str(store.root))
    client = redis.Redis.from_url(aof_redis.url)
    events = Events(RedisStreamLog(client), store, files, key=b"durability-test-key" * 2)
    gone, stays = events.viewer("acct-gone"), events.viewer("acct-stays")
    base = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=2)
    made = generate(store.root, ERASURE_EVENTS, gone, theirs_per_type=200, base=base)
    assert made.rows == ERASURE_EVENTS - ERASURE_EVENTS % len(TYPES) and made.redelivered > 0
    # A few of theirs (and of someone else) not written yet: still in the stream.
    pending = [_search(str(uuid.uuid4())) for _ in range(5)]
    pending = [e.model_copy(update={"viewer": gone if i < 3 else stays})
               for i, e in enumerate(pending)]  # fmt: skip
    events.log.append(pending)

    def beacons() -> int:
        table = qoe_cells_table(files, base, base + timedelta(hours=HOURS))
        return int(table.column("beacons").to_numpy().sum())

    before, beacons_before = distinct_counts(files), beacons()
    assert {t: before[t] for t in TYPES} == dict.fromkeys(TYPES, ERASURE_EVENTS // len(TYPES))
    assert len(events.export("acct-gone")) == 3 * 200  # distinct, redeliveries counted once

    catalog_url = f"sqlite:///{tmp_path / 'catalog.db'}"
    upgrade(catalog_url)
    engine = make_engine(catalog_url)
    try:
        events.erase("acct-gone", actor="test", catalog=engine)
    finally:
        engine.dispose()

    after = distinct_counts(files)
    assert {t: before[t] - after[t] for t in before} == {
        t: len(made.theirs.get(t, ())) for t in before
    }
    assert events.export("acct-gone") == []
    assert events.history("acct-gone") == []
    assert beacons_before - beacons() == len(made.theirs["qoe"])
    # Not only through the named queries: no event file holds a row of theirs any more.
    import pyarrow.dataset as ds

    for event_type in TYPES:
        dataset = ds.dataset(str(store.root / "events" / f"type={event_type}"), format="parquet")
        assert dataset.count_rows(filter=ds.field("viewer") == gone) == 0
    left = [StoredEvent.from_json(data[b"e"]).viewer for _id, data in client.xrange(STREAM)]
    assert left == [stays, stays]
