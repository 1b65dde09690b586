"""The media workers' input cache: bounded by size, least recently used evicted first, never
a file an activity holds.

Unit tests drive InputCache directly; the end-to-end test runs activities on a real Temporal
dev server through a worker with InputPinInterceptor, fetching from a real S3 server
(SeaweedFS), and checks pins are held while an activity runs and released when it ends.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio import activity, workflow
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from reelflow.activities.deps import Deps
from reelflow.activities.input_cache import InputCache, InputPinInterceptor, hold, pin_scope
from reelflow.config import Settings
from reelflow.storage import S3Store
from tests.services import S3Server, seaweedfs_server

KB = 1000


def put(cache: InputCache, name: str, size: int, fetches: list[str] | None = None) -> Path:
    def fetch(dest: Path) -> None:
        if fetches is not None:
            fetches.append(name)
        dest.write_bytes(b"x" * size)

    return cache.acquire(name, lambda: size, fetch)


def names(cache: InputCache) -> set[str]:
    return {p.name for p in cache.root.iterdir()}


def test_least_recently_used_is_evicted_past_the_budget(tmp_path: Path) -> None:
    cache = InputCache(tmp_path, max_bytes=3 * KB)
    for n in ("a", "b", "c"):
        put(cache, n, KB)
        cache.release(n)
    put(cache, "a", KB)  # a hit: a is now the most recent
    cache.release("a")
    put(cache, "d", KB)
    cache.release("d")
    assert names(cache) == {"a", "c", "d"}  # b was the least recently used
    assert cache._total == 3 * KB


def test_pinned_file_is_never_evicted(tmp_path: Path) -> None:
    cache = InputCache(tmp_path, max_bytes=2 * KB)
    held = put(cache, "master", KB)  # pinned: an encode is reading it
    put(cache, "x", KB)
    cache.release("x")
    put(cache, "y", KB)  # room is made from x, not from the pinned master
    cache.release("y")
    assert held.exists() and names(cache) == {"master", "y"}
    # Over budget while everything is pinned: the input still loads, the cache runs over...
    put(cache, "huge", 5 * KB)
    assert held.exists() and (tmp_path / "huge").exists()
    assert cache._total == 6 * KB
    # ...and shrinks back once the pins go.
    cache.release("huge")
    assert not (tmp_path / "huge").exists() and held.exists()
    cache.release("master")
    assert cache._total <= 2 * KB
    with pytest.raises(RuntimeError, match="not pinned"):
        cache.release("master")


def test_concurrent_misses_share_one_download(tmp_path: Path) -> None:
    cache = InputCache(tmp_path, max_bytes=10 * KB)
    fetches: list[str] = []
    started = threading.Event()
    go = threading.Event()

    def slow_fetch(dest: Path) -> None:
        fetches.append("m")
        started.set()
        go.wait(5)
        dest.write_bytes(b"m" * KB)

    results: list[Path] = []
    threads = [
        threading.Thread(target=lambda: results.append(cache.acquire("m", lambda: KB, slow_fetch)))
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    started.wait(5)
    go.set()
    for t in threads:
        t.join(5)
    assert fetches == ["m"] and len(results) == 4
    for _ in range(4):
        cache.release("m")
    with pytest.raises(RuntimeError):
        cache.release("m")  # four pins, four releases


def test_failed_download_is_not_cached(tmp_path: Path) -> None:
    cache = InputCache(tmp_path, max_bytes=10 * KB)

    def broken(dest: Path) -> None:
        raise ConnectionError("store blip")

    with pytest.raises(ConnectionError):
        cache.acquire("m", lambda: KB, broken)
    fetches: list[str] = []
    put(cache, "m", KB, fetches)  # the retry downloads again
    assert fetches == ["m"]


def test_restart_adopts_files_and_drops_half_downloads(tmp_path: Path) -> None:
    cache = InputCache(tmp_path, max_bytes=10 * KB)
    put(cache, "warm", KB)
    cache.release("warm")
    (tmp_path / ".warm2.0123456789abcdef.rftmp").write_bytes(b"partial")
    again = InputCache(tmp_path, max_bytes=10 * KB)
    assert names(again) == {"warm"} and again._total == KB
    fetches: list[str] = []
    put(again, "warm", KB, fetches)
    assert fetches == []  # a hit: the restarted worker keeps its warm inputs
    # A smaller budget after restart trims at once.
    assert InputCache(tmp_path, max_bytes=KB // 2)._total == 0


def test_pin_scope_releases_what_the_activity_held(tmp_path: Path) -> None:
    cache = InputCache(tmp_path, max_bytes=KB)
    with pin_scope():
        put(cache, "a", KB)
        hold(cache, "a")
        put(cache, "b", KB)  # a is held: both on disk, over budget
        hold(cache, "b")
        assert names(cache) == {"a", "b"}
    assert cache._total <= KB  # released at scope end, trimmed to budget


def test_bad_budget_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="max_bytes"):
        InputCache(tmp_path, max_bytes=0)


# ---------------------------------------------------------------- end to end
@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with seaweedfs_server() as server:
        yield server


class Inputs:
    """A test activity that reads S3 objects through Deps.local_copy, as media ones do."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.pins_seen: list[int] = []

    @activity.defn(name="use_inputs")
    def use_inputs(self, keys: list[str]) -> list[str]:
        paths = [self.deps.local_copy(k) for k in keys]
        cache = self.deps.input_cache
        self.pins_seen.append(sum(e.pins for e in cache._entries.values()))
        return [p.read_text() for p in paths]


@workflow.defn(name="InputCacheProbe", sandboxed=False)
class InputCacheProbe:
    @workflow.run
    async def run(self, batches: list[list[str]]) -> list[list[str]]:
        out = []
        for keys in batches:
            out.append(
                await workflow.execute_activity(
                    "use_inputs", keys, start_to_close_timeout=timedelta(seconds=30)
                )
            )
        return out


async def test_worker_releases_pins_after_each_activity(
    temporal_env: WorkflowEnvironment, s3: S3Server, tmp_path: Path
) -> None:
    settings = Settings(
        home=tmp_path,
        store="s3",
        s3_endpoint=s3.endpoint,
        s3_access_key=s3.access_key,
        s3_secret_key=s3.secret_key,
        s3_bucket=f"cache-{uuid.uuid4().hex[:12]}",
        media_cache_bytes=2 * KB,
    )
    store = S3Store(s3.endpoint, s3.access_key, s3.secret_key, settings.s3_bucket)
    for k in ("m/a", "m/b", "m/c"):
        store.put_bytes(k, k.encode() * (KB // len(k)))  # 1000 bytes each
    deps = Deps(settings, None, store)  # type: ignore[arg-type]  # no catalog needed
    probe = Inputs(deps)
    queue = f"cache-{uuid.uuid4().hex[:8]}"
    async with Worker(
        temporal_env.client,
        task_queue=queue,
        workflows=[InputCacheProbe],
        activities=[probe.use_inputs],
        activity_executor=concurrent.futures.ThreadPoolExecutor(2),
        interceptors=[InputPinInterceptor()],
    ):
        result = await temporal_env.client.execute_workflow(
            InputCacheProbe.run,
            [["m/a", "m/b"], ["m/c"], ["m/a"]],
            id=f"cache-probe-{uuid.uuid4().hex[:8]}",
            task_queue=queue,
        )
    assert [len(r) for r in result] == [2, 1, 1]
    assert result[0][0].startswith("m/a")
    assert probe.pins_seen == [2, 1, 1]  # held while each activity ran...
    cache = deps.input_cache
    await asyncio.sleep(0)
    assert sum(e.pins for e in cache._entries.values()) == 0  # ...released after
    assert cache._total <= 2 * KB
    on_disk = {p.name for p in cache.root.iterdir()}
    assert len(on_disk) == 2  # a, b, c, a again through a 2-file budget: b was evicted
