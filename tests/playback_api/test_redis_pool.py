"""The API's Redis pool (http/context.py ``redis_client``) on a real Redis of its own: more
requests than connections wait for one instead of failing, the number of connections stays
within the setting, and a pool that stays busy past its timeout is a ConnectionError (which
the app answers as a 503)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from redis.asyncio import ConnectionPool, Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from reelflow.config import Settings
from reelflow.playback_api.http.context import redis_client
from tests.services import redis_server

HELD_KEY = "held"


@pytest.fixture
def own_redis() -> Iterator[str]:
    """A Redis of this test alone, so its client count is this test's."""
    with redis_server() as url:
        yield url


def _clients(url: str) -> int:
    with redis.Redis.from_url(url) as probe:
        return int(probe.info("clients")["connected_clients"]) - 1  # less the probe itself


async def _hold_the_connection(url: str, client: Redis) -> asyncio.Future[Any]:
    """A BLPOP on ``client`` once Redis has it blocked (so it holds a pooled connection);
    released by ``_release``."""
    held = asyncio.ensure_future(client.blpop([HELD_KEY], timeout=30))
    with redis.Redis.from_url(url) as probe:
        for _ in range(500):  # bounded: 10 s at most
            if int(probe.info("clients")["blocked_clients"]) == 1:
                return held
            await asyncio.sleep(0.02)
    raise AssertionError("the BLPOP never blocked")


def _release(url: str) -> None:
    with redis.Redis.from_url(url) as probe:
        probe.rpush(HELD_KEY, b"go")


async def test_requests_beyond_the_pool_wait_and_all_succeed(own_redis: str) -> None:
    client = redis_client(Settings(redis_url=own_redis, redis_max_connections=2))
    try:
        await client.set("k", b"v")
        answers = await asyncio.gather(*(client.get("k") for _ in range(40)))
        assert answers == [b"v"] * 40
        assert _clients(own_redis) <= 2
    finally:
        await client.aclose()


async def test_a_request_waits_for_the_connection_a_slow_one_holds(own_redis: str) -> None:
    client = redis_client(Settings(redis_url=own_redis, redis_max_connections=1))
    try:
        held = await _hold_the_connection(own_redis, client)
        waiting = asyncio.ensure_future(client.get("k"))
        await asyncio.sleep(0.1)
        assert not waiting.done()  # it cannot be: the only connection is held
        _release(own_redis)
        assert tuple(await asyncio.wait_for(held, timeout=10)) == (HELD_KEY.encode(), b"go")
        assert await asyncio.wait_for(waiting, timeout=10) is None  # "k" was never set
    finally:
        await client.aclose()


async def test_redis_pys_default_pool_refuses_instead(own_redis: str) -> None:
    # Why the API's pool is a waiting one: the client's default raises past its size.
    client = Redis.from_pool(ConnectionPool.from_url(own_redis, max_connections=1))
    try:
        held = await _hold_the_connection(own_redis, client)
        with pytest.raises(RedisConnectionError):
            await client.get("k")
        _release(own_redis)
        await asyncio.wait_for(held, timeout=10)
    finally:
        await client.aclose()


async def test_a_pool_busy_past_its_timeout_is_a_connection_error(own_redis: str) -> None:
    client = redis_client(Settings(redis_url=own_redis, redis_max_connections=1), wait_s=0.1)
    try:
        held = await _hold_the_connection(own_redis, client)
        with pytest.raises(RedisConnectionError, match="No connection available"):
            await client.get("k")
        _release(own_redis)
        await asyncio.wait_for(held, timeout=10)
    finally:
        await client.aclose()


async def test_connections_redis_closed_are_replaced_not_failed(own_redis: str) -> None:
    """After a Redis restart every pooled connection is dead (bench/soak.py saw a 503 for
    each one as it was next used, for over ten seconds): the command goes again on a new
    connection. CLIENT KILL closes them as a restart does, without changing the port."""
    client = redis_client(Settings(redis_url=own_redis, redis_max_connections=4))
    try:
        await asyncio.gather(*(client.set(f"k{n}", b"v") for n in range(8)))
        with redis.Redis.from_url(own_redis) as probe:
            assert probe.client_kill_filter(_type="normal", skipme=True) >= 1
        answers = await asyncio.gather(*(client.get(f"k{n}") for n in range(8)))
        assert answers == [b"v"] * 8
    finally:
        await client.aclose()
