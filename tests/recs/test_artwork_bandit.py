"""Thompson choice of artwork candidates and its counts in a real Redis."""

from __future__ import annotations

import asyncio
from collections import Counter

import numpy as np
import redis
from redis.asyncio import Redis

from reelflow.recs.artwork_bandit import COUNTS_KEY, ArtworkChooser, thompson_choice, viewer_seed


def test_thompson_prefers_the_better_arm_but_explores() -> None:
    rng = np.random.default_rng(3)
    picks = Counter(thompson_choice([200, 200, 200], [10, 40, 12], rng) for _ in range(2000))
    assert picks[1] > 1900
    fresh = Counter(thompson_choice([0, 0, 0], [0, 0, 0], rng) for _ in range(3000))
    assert all(800 < fresh[arm] < 1200 for arm in range(3))  # no data: uniform


def test_clicks_above_impressions_are_clipped() -> None:
    rng = np.random.default_rng(0)
    assert thompson_choice([0, 50], [5, 25], rng) in (0, 1)  # no ValueError from Beta(6, -4)


def test_seed_is_stable_and_varies() -> None:
    assert viewer_seed("a", "film", 10) == viewer_seed("a", "film", 10)
    assert len({viewer_seed("a", "film", 10), viewer_seed("b", "film", 10),
                viewer_seed("a", "film", 11), viewer_seed("a", "show", 10)}) == 4  # fmt: skip


def test_counts_choice_and_click_dedup(redis_url: str) -> None:
    redis.Redis.from_url(redis_url).delete(COUNTS_KEY)

    async def scenario() -> None:
        client = Redis.from_url(redis_url)
        chooser = ArtworkChooser(client, refresh_s=3600.0)
        try:
            # One title with one candidate is never asked anything.
            assert chooser.choose("v1", "solo", 1) == 0
            for _ in range(300):
                await chooser.record_impression("film", 0)
                await chooser.record_impression("film", 2)
            await client.hset(
                COUNTS_KEY,
                mapping={"film\t2\tc": 120, "film\t0\tc": 3, "film\t1\ti": 300, "film\t1\tc": 4},
            )
            await chooser.refresh_if_stale()
            viewers = [f"viewer-{i}" for i in range(50)]
            chosen = [chooser.choose(v, "film", 3, now=7200.0) for v in viewers]
            assert Counter(chosen)[2] == len(viewers)  # 40% against about 1%: no contest
            # Sticky: the same viewer, title and hour choose the same again.
            assert chosen == [chooser.choose(v, "film", 3, now=7200.0 + 1800) for v in viewers]
            assert await chooser.record_click("viewer-0", "film", 2, now=7200.0)
            assert not await chooser.record_click("viewer-0", "film", 2, now=7300.0)
            assert await chooser.record_click("viewer-0", "film", 2, now=7200.0 + 3600)
            raw = await client.hgetall(COUNTS_KEY)
            assert raw[b"film\t2\tc"] == b"122" and raw[b"film\t2\ti"] == b"300"
        finally:
            await client.aclose()

    asyncio.run(scenario())
