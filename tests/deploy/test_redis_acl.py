"""The compose file's Redis users, on a real redis-server started with the compose command
and the example ACL file: the API (leases, rate limits, the events script, revocation), the
events writer's reads and an rq worker all work as `reelflow`; the commands that turn a
Redis password into a shell or a wiped database are refused; the default user is off and
the health user can only PING."""

from __future__ import annotations

import hashlib
import secrets
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml

from reelflow.config import Settings
from reelflow.events.log import RedisStreamLog
from reelflow.jobs.queue import get_queue, get_worker
from tests.fixtures.published import MediaSet
from tests.playback_api.conftest import _harness
from tests.services import free_port, wait_for_port

COMPOSE_DIR = Path(__file__).resolve().parents[2] / "deploy" / "compose"
PLACEHOLDER = "REPLACE_WITH_SHA256_OF_THE_PASSWORD"


def _compose_redis_args(acl_file: Path, port: int, data_dir: Path) -> list[str]:
    """The compose service's redis-server flags, with this host's file, port and folder."""
    service = yaml.safe_load((COMPOSE_DIR / "compose.yaml").read_text())["services"]["redis"]
    command = list(service["command"])
    assert command[0] == "redis-server"
    flags = dict(zip(command[1::2], command[2::2], strict=True))
    mounted = next(v for v in service["volumes"] if v.startswith("./redis-users.acl:"))
    assert mounted.split(":")[1] == flags["--aclfile"]
    flags.update({"--aclfile": str(acl_file), "--port": str(port), "--dir": str(data_dir)})
    flags["--appendonly"] = "no"  # the test's server keeps nothing
    return [arg for pair in flags.items() for arg in pair] + ["--bind", "127.0.0.1"]


@pytest.fixture(scope="module")
def acl_redis() -> Iterator[tuple[int, str]]:
    """(port, password of `reelflow`) of a redis-server run as compose runs it."""
    exe = shutil.which("redis-server")
    assert exe, "redis-server missing: run ./deploy/dev.sh test"
    workdir = Path(tempfile.mkdtemp(prefix="reelflow-redis-acl-"))
    password = secrets.token_hex(16)
    example = (COMPOSE_DIR / "redis-users.acl.example").read_text()
    assert PLACEHOLDER in example
    acl = workdir / "users.acl"
    acl.write_text(example.replace(PLACEHOLDER, hashlib.sha256(password.encode()).hexdigest()))
    port = free_port()
    proc = subprocess.Popen(
        [exe, *_compose_redis_args(acl, port, workdir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port)
        yield port, password
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


def _url(port: int, password: str) -> str:
    return f"redis://reelflow:{password}@127.0.0.1:{port}/0"


def test_the_api_works_through_the_reelflow_user(
    acl_redis: tuple[int, str], tmp_path: Path, media_set: MediaSet, packager_path: str
) -> None:
    url = _url(*acl_redis)
    harness = _harness(
        tmp_path, url, f"sqlite:///{tmp_path / 'catalog.db'}", media_set, packager_path,
        flush_redis=False,
    )  # fmt: skip
    api = next(harness)
    try:
        api.publish("tt-acl")
        headers = api.auth(plan="premium", sub="acl-viewer")
        started = api.start_playback("tt-acl", headers)
        assert started.status_code == 201, started.text
        session = started.json()
        beat = api.client.put(
            f"/v1/sessions/{session['session_id']}/heartbeat",
            json={"position": 2.0, "duration": 8},
            headers=headers,
        )
        assert beat.status_code == 200, beat.text
        event = {
            "type": "play_start", "id": str(uuid.uuid4()), "title": "tt-acl",
            "ts": datetime.now(UTC).isoformat(), "session": session["session_id"],
        }  # fmt: skip
        sent = api.client.post("/v1/events", json={"events": [event]}, headers=headers)
        assert sent.status_code == 202, sent.text
        assert sent.json()["accepted"] == 1
        ended = api.client.delete(f"/v1/sessions/{session['session_id']}", headers=headers)
        assert ended.status_code in (200, 204), ended.text
    finally:
        next(harness, None)
    # The events writer's side of the log: group, read, acknowledge.
    log = RedisStreamLog(redis.Redis.from_url(url))
    log.ensure_group()
    entries = log.read("acl-test", count=10)
    assert entries
    assert any(e.record is not None and e.record["type"] == "play_start" for e in entries)
    log.claim_stale("acl-test-2", min_idle_ms=0, count=10)
    log.done([e.entry_id for e in entries])
    assert log.backlog() >= 0


def test_an_rq_worker_runs_jobs_through_the_reelflow_user(
    acl_redis: tuple[int, str], tmp_path: Path
) -> None:
    settings = Settings(home=tmp_path, redis_url=_url(*acl_redis), rq_queue="acl-test")
    job = get_queue(settings).enqueue("builtins.len", [1, 2, 3])
    get_worker(settings).work(burst=True, max_jobs=1, with_scheduler=True)
    job.refresh()
    assert job.return_value() == 3


@pytest.mark.parametrize(
    "command",
    [
        ("CONFIG", "SET", "dir", "/tmp"),
        ("MODULE", "LOAD", "/tmp/x.so"),
        ("DEBUG", "SLEEP", "0"),
        ("REPLICAOF", "127.0.0.1", "1"),
        ("FLUSHALL",),
        ("KEYS", "*"),
        ("ACL", "SETUSER", "evil", "on", "nopass", "+@all"),
        ("SHUTDOWN", "NOSAVE"),
        ("MONITOR",),
    ],
)
def test_the_dangerous_commands_are_refused(
    acl_redis: tuple[int, str], command: tuple[Any, ...]
) -> None:
    client = redis.Redis.from_url(_url(*acl_redis))
    # NOPERM from the ACL; MODULE and DEBUG are also off in Redis 7's own defaults
    with pytest.raises(redis.exceptions.ResponseError, match=r"no permissions|not allowed"):
        client.execute_command(*command)
    assert client.ping()  # and the server is still there


def test_no_default_user_and_the_health_user_only_pings(acl_redis: tuple[int, str]) -> None:
    port, _ = acl_redis
    with pytest.raises(redis.exceptions.AuthenticationError):
        redis.Redis(port=port).get("x")
    health = redis.Redis(port=port, username="health", password="-")
    assert health.ping()
    with pytest.raises(redis.exceptions.NoPermissionError):
        health.get("x")
    with pytest.raises(redis.exceptions.AuthenticationError):
        redis.Redis.from_url(_url(port, "wrong-password")).ping()
