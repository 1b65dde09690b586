"""Thompson choice of artwork candidates, its sample tables, and its counts in a real Redis."""

from __future__ import annotations

import asyncio
from collections import Counter

import numpy as np
import redis
from redis.asyncio import Redis

from reelflow.recs.artwork_bandit import (
    COUNTS_KEY,
    SLOTS,
    ArtworkChooser,
    build_tables,
    parse_counts,
    sample_table,
    thompson_choice,
    viewer_seed,
)

NOW = 3600.0 * 498_900 + 60  # a fixed clock, a minute into an hour: it never turns


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


def test_a_slot_keeps_its_arm_when_the_counts_move_a_little() -> None:
    """Fixed uniforms, inverse CDF: one more impression changes almost no slot's best arm;
    a clear winner takes every slot."""
    uniforms = np.random.default_rng(5).random((SLOTS, 3))
    before = sample_table([100, 100, 100], [10, 11, 9], uniforms).argmax(axis=1)
    after = sample_table([101, 100, 100], [10, 11, 9], uniforms).argmax(axis=1)
    assert int((before != after).sum()) <= 2
    assert len(set(before.tolist())) == 3  # near-equal arms: every arm gets viewers
    clear = sample_table([300, 300, 300], [3, 120, 4], uniforms).argmax(axis=1)
    assert set(clear.tolist()) == {1}


def test_tables_are_the_same_in_every_process_and_kept_when_unchanged() -> None:
    counts = {"film": ([50, 60], [5, 9]), "show": ([10], [1])}
    first = build_tables(counts, 7, {})
    again = build_tables(counts, 7, {})
    assert all(np.array_equal(first[t][1], again[t][1]) for t in counts)
    kept = build_tables(counts, 7, first)
    assert kept["film"][1] is first["film"][1]
    moved = build_tables({**counts, "film": ([51, 60], [5, 9])}, 7, first)
    assert moved["film"][1] is not first["film"][1] and moved["show"] is first["show"]


def test_what_is_not_a_count_in_the_hash_is_ignored() -> None:
    raw = {
        b"film\t0\ti": b"40",
        b"film\t0\tc": b"4",
        b"film\t2\ti": b"7",
        b"film\t1\tc": b"-3",  # negative
        b"film\t1\ti": b"lots",  # not a number
        b"film\t3\ti": b"9",  # no such arm
        b"film\t9999999\ti": b"1",  # would have grown a list to ten million
        b"film\t0\tx": b"1",
        b"\xff\xfe": b"1",
        b"other": b"2",
        b"show\t1\tc": b"99999999999999999999999",  # absurdly large
    }
    assert parse_counts(raw) == {"film": ([40, 0, 7], [4])}


def test_counts_choice_and_click_dedup(redis_url: str) -> None:
    redis.Redis.from_url(redis_url).delete(COUNTS_KEY)
    clock = [NOW]

    async def scenario() -> None:
        client = Redis.from_url(redis_url)
        # refresh_s=0: every await may reload; the choices compared run without one between.
        chooser = ArtworkChooser(client, refresh_s=0.0, clock=lambda: clock[0])
        viewers = [f"viewer-{i}" for i in range(300)]
        try:
            assert chooser.choose("v1", "solo", 1) == 0  # one candidate: nothing to choose
            # No counts yet: flat, each arm about a third of the viewers.
            flat = Counter(chooser.choose(v, "film", 3) for v in viewers)
            assert all(70 < flat[arm] < 130 for arm in range(3)), flat
            for _ in range(300):
                await chooser.record_impression("film", 0)
                await chooser.record_impression("film", 2)
            await client.hset(COUNTS_KEY, "film\t2\tc", 120)
            await client.hset(COUNTS_KEY, "film\t0\tc", 3)
            await client.hset(COUNTS_KEY, "film\t1\ti", 300)
            await client.hset(COUNTS_KEY, "film\t1\tc", 4)
            await client.hset(COUNTS_KEY, "film\t9\ti", 10**9)  # not an arm: ignored
            await chooser.refresh_if_stale()
            chosen = [chooser.choose(v, "film", 3) for v in viewers]
            assert Counter(chosen)[2] == len(viewers)  # 40% against about 1%: no contest
            clock[0] = NOW + 1800  # the same hour: the same choice
            assert chosen == [chooser.choose(v, "film", 3) for v in viewers]
            assert await chooser.record_click("viewer-0", "film", 2)
            assert not await chooser.record_click("viewer-0", "film", 2)  # once an hour
            clock[0] = NOW + 3600
            assert await chooser.record_click("viewer-0", "film", 2)
            raw = await client.hgetall(COUNTS_KEY)
            assert raw[b"film\t2\tc"] == b"122" and raw[b"film\t2\ti"] == b"300"
            await chooser.refresh_if_stale()  # no load left running past the client
        finally:
            await client.aclose()

    asyncio.run(scenario())
