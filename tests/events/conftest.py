from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis

from reelflow.events.log import RedisStreamLog
from reelflow.events.queries import EventFiles
from reelflow.events.schema import Context, StoredEvent, parse_client_event, store
from reelflow.storage import LocalStore

NOW = datetime(2026, 12, 7, 16, 30, tzinfo=UTC)


def make_event(type_: str, viewer: str = "v_a", at: datetime = NOW, **fields: Any) -> StoredEvent:
    body = {"id": str(uuid.uuid4()), "type": type_, "ts": at.isoformat(), **fields}
    ctx = Context(viewer=viewer, country="FR", plan="basic", session="s1", device="d1")
    return store(parse_client_event(body), ctx, now=at + timedelta(seconds=1))


@pytest.fixture
def stream_log(redis_url: str) -> Iterator[RedisStreamLog]:
    client = redis.Redis.from_url(redis_url)
    name = f"test:events:{uuid.uuid4().hex}"
    try:
        yield RedisStreamLog(client, stream=name)
    finally:
        client.delete(name)
        client.close()


@pytest.fixture
def local_store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "objects")


@pytest.fixture
def files(local_store: LocalStore) -> EventFiles:
    import pyarrow.fs as pafs

    local_store.root.mkdir(parents=True, exist_ok=True)
    return EventFiles(pafs.LocalFileSystem(), str(local_store.root))
