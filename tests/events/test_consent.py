"""An account's consent (events.consent) on a real Redis and catalog: the mirror is what is
read, a miss falls back to the catalog and refills it, a change writes both, and an account
that never chose follows the deployment's default."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from sqlalchemy.engine import Engine

from reelflow.catalog.viewer_privacy import consent_choice, set_consent_choice
from reelflow.events.consent import MIRROR_TTL_S, Consent, mirror_key, read_consent, write_consent


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    await client.delete(mirror_key("alice"), mirror_key("bob"))
    try:
        yield client
    finally:
        await client.delete(mirror_key("alice"), mirror_key("bob"))
        await client.aclose()


async def test_no_choice_follows_the_default_and_is_mirrored(redis: Redis, catalog: Engine) -> None:
    assert await read_consent(redis, catalog, "alice", True) == Consent(True, is_default=True)
    assert await read_consent(redis, catalog, "alice", False) == Consent(False, is_default=True)
    assert await redis.get(mirror_key("alice")) == b"-"  # the next batch asks no database
    assert 0 < await redis.ttl(mirror_key("alice")) <= MIRROR_TTL_S


async def test_a_change_is_durable_and_mirrored(redis: Redis, catalog: Engine) -> None:
    assert await write_consent(redis, catalog, "alice", False, True) == Consent(False, False)
    assert consent_choice(catalog, "alice") is False
    assert await redis.get(mirror_key("alice")) == b"0"
    assert await read_consent(redis, catalog, "alice", True) == Consent(False, False)
    assert await read_consent(redis, catalog, "bob", True) == Consent(True, True)


async def test_the_mirror_is_read_and_a_miss_refills_it_from_the_catalog(
    redis: Redis, catalog: Engine
) -> None:
    await write_consent(redis, catalog, "alice", False, True)
    # Changed in the database behind the mirror's back: the ingest path does not see it...
    set_consent_choice(catalog, "alice", True)
    assert (await read_consent(redis, catalog, "alice", True)).analytics is False
    # ...until the mirror misses (it lapsed, or Redis lost it): then the catalog is read.
    await redis.delete(mirror_key("alice"))
    assert (await read_consent(redis, catalog, "alice", True)).analytics is True
    assert await redis.get(mirror_key("alice")) == b"1"
