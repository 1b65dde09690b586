"""Which artwork candidate a viewer sees: Thompson sampling on click-through, per title.

Each title's candidates (domain/artwork.py) are arms with Beta(1 + clicks, 1 + impressions -
clicks) posteriors. Whenever the counts are reloaded (at most every ``refresh_s``) each
title with counts gets a table of ``SLOTS`` posterior samples per arm, by inverse CDF of
uniforms seeded by (title, UTC hour). A viewer's choice is the best arm in the slot their
(viewer, title, hour) digest picks. So:
- viewers spread over the arms in proportion to how likely each is the best (Thompson
  sampling, its posterior updated in batches), and the bandit keeps exploring;
- a viewer sees the same candidate for the hour: the slot does not change, and with its
  uniforms fixed for the hour a reload moves each sample only as far as the counts moved
  its posterior, so the best arm of a slot changes only when two arms were nearly tied;
- every API process chooses the same, and a choice costs a digest and a lookup, no Redis
  round trip and no sampling per title in a catalog answer.
A title without counts yet has flat posteriors: each arm is equally likely, by digest.

Counting happens where the chosen candidate is known for sure, at serving time:
- an impression when a candidate's poster image is fetched through its signed link (the
  link names the candidate; <img loading=lazy> fetches only what comes near the screen,
  and the browser's cache keeps a repeat view within the link's life from counting twice);
- a click when the viewer opens the title (its detail answer), at most once per viewer,
  title and hour, for the candidate that viewer was being shown.
This keeps the events ingest path untouched and needs no mapping from the pseudonymised
ids in events back to viewers.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from redis.asyncio import Redis
from redis.exceptions import RedisError
from scipy.special import betaincinv

from reelflow.domain.artwork import MAX_ARTWORK_CANDIDATES

log = logging.getLogger(__name__)

COUNTS_KEY = "reelflow:artwork:counts"  # hash: "<title>\t<n>\t<i|c>" -> count
_CLICK_SEEN_PREFIX = "reelflow:artwork:clicked:"  # + digest of viewer, title and hour
HOUR_S = 3600
DEFAULT_REFRESH_S = 60.0
SLOTS = 32  # posterior samples per title and arm; viewers are spread over them
_ARMS = {str(n) for n in range(MAX_ARTWORK_CANDIDATES)}


def _posteriors(impressions: Sequence[int], clicks: Sequence[int]) -> tuple[Any, Any]:
    shown = np.asarray(impressions, dtype=np.float64)
    won = np.minimum(np.asarray(clicks, dtype=np.float64), shown)
    return 1.0 + won, 1.0 + shown - won


def thompson_choice(
    impressions: Sequence[int], clicks: Sequence[int], rng: np.random.Generator
) -> int:
    """The arm whose Beta posterior sample is highest (uniform priors)."""
    alpha, beta = _posteriors(impressions, clicks)
    return int(np.argmax(rng.beta(alpha, beta)))


def sample_table(
    impressions: Sequence[int], clicks: Sequence[int], uniforms: np.ndarray
) -> np.ndarray:
    """Posterior samples, slots x arms, by inverse CDF of fixed ``uniforms``: a sample moves
    only as far as its posterior moved, so new counts seldom change a slot's best arm."""
    alpha, beta = _posteriors(impressions, clicks)
    return np.asarray(betaincinv(alpha, beta, uniforms), dtype=np.float32)


def viewer_seed(viewer: str, title_id: str, hour: int) -> int:
    """A stable 64-bit seed per viewer, title and hour (not Python's salted hash())."""
    digest = hashlib.blake2b(f"{viewer}\0{title_id}\0{hour}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def _field(title_id: str, n: int, what: str) -> str:
    return f"{title_id}\t{n}\t{what}"


Counts = tuple[tuple[int, ...], tuple[int, ...]]  # impressions, clicks per arm
Tables = dict[str, tuple[Counts, np.ndarray]]


def build_tables(
    counts: dict[str, tuple[list[int], list[int]]], hour: int, previous: Tables
) -> Tables:
    """Each counted title's sample table for this hour, its uniforms seeded by title and
    hour (the same in every process that read the same counts); a table whose counts did
    not change is kept from ``previous`` (drawn for the same hour)."""
    arms = MAX_ARTWORK_CANDIDATES
    tables: Tables = {}
    for title_id, (shown, won) in counts.items():
        key = (tuple((shown + [0] * arms)[:arms]), tuple((won + [0] * arms)[:arms]))
        kept = previous.get(title_id)
        if kept is not None and kept[0] == key:
            tables[title_id] = kept
            continue
        uniforms = np.random.default_rng(viewer_seed("", title_id, hour)).random((SLOTS, arms))
        tables[title_id] = (key, sample_table(key[0], key[1], uniforms))
    return tables


def _count(value: object) -> int | None:
    text = value.decode("ascii", "replace") if isinstance(value, bytes) else str(value)
    return int(text) if text.isdigit() and len(text) <= 18 else None


def parse_counts(raw: dict[Any, Any]) -> dict[str, tuple[list[int], list[int]]]:
    """The hash's fields as impressions and clicks per title and arm. Anything else in it
    (another field shape, an arm out of range, a value that is not a count) is ignored
    rather than trusted: the choice must never fail on what Redis holds."""
    counts: dict[str, tuple[list[int], list[int]]] = {}
    for key, value in raw.items():
        name = key.decode("utf-8", "replace") if isinstance(key, bytes) else str(key)
        parts = name.split("\t")
        number = _count(value)
        if len(parts) != 3 or parts[1] not in _ARMS or parts[2] not in ("i", "c"):
            continue
        if number is None:
            continue
        n = int(parts[1])
        shown, won = counts.setdefault(parts[0], ([], []))
        target = shown if parts[2] == "i" else won
        target.extend([0] * (n + 1 - len(target)))
        target[n] = number
    return counts


class ArtworkChooser:
    """The per-process sample tables, the choice, and the counts in Redis."""

    def __init__(
        self,
        redis: Redis,
        *,
        refresh_s: float = DEFAULT_REFRESH_S,
        clock: Callable[[], float] = time.time,  # Unix seconds; the hour comes from it
    ) -> None:
        self._redis = redis
        self._refresh_s = refresh_s
        self._clock = clock
        self._tables: Tables = {}
        self._hour = -1  # the hour the tables were drawn for
        self._loaded_at = float("-inf")
        self._loading: asyncio.Task[None] | None = None

    def choose(self, viewer: str, title_id: str, count: int) -> int:
        """Candidate for this viewer now (0 when the title has one candidate or none)."""
        if count <= 1:
            return 0
        hour = int(self._clock()) // HOUR_S
        self._refresh_soon(hour)
        digest = viewer_seed(viewer, title_id, hour)
        kept = self._tables.get(title_id) if hour == self._hour else None
        if kept is None:
            return digest % count  # no counts (or no tables for this hour yet): flat
        row = kept[1][digest % SLOTS, :count].tolist()
        return max(range(count), key=row.__getitem__)

    def _stale(self, hour: int) -> bool:
        return hour != self._hour or time.monotonic() - self._loaded_at >= self._refresh_s

    def _refresh_soon(self, hour: int) -> None:
        """From a catalog answer (sync code on the event loop): start a reload in the
        background if the tables are stale; this answer uses the tables it has."""
        if not self._stale(hour):
            return
        if self._loading is not None and not self._loading.done():
            return
        # Off the event loop (a worker thread) there is no loop: the next async caller loads.
        with contextlib.suppress(RuntimeError):
            self._loading = asyncio.get_running_loop().create_task(self._load())

    async def refresh_if_stale(self) -> None:
        """Reload the counts when the tables are older than ``refresh_s`` or of another hour;
        one load at a time (concurrent callers go on with the tables they have)."""
        if not self._stale(int(self._clock()) // HOUR_S):
            return
        if self._loading is None or self._loading.done():
            self._loading = asyncio.create_task(self._load())
        await asyncio.shield(self._loading)

    async def _load(self) -> None:
        try:
            raw = await self._redis.hgetall(COUNTS_KEY)
        except RedisError as exc:
            # Artwork must not fail with Redis: the old snapshot serves until the next try.
            log.warning("artwork counts not refreshed: %s", type(exc).__name__)
            self._loaded_at = time.monotonic()
            return
        counts = parse_counts(raw)
        hour = int(self._clock()) // HOUR_S
        # Drawn off the event loop: thousands of titles take a moment.
        previous = self._tables if hour == self._hour else {}
        self._tables = await asyncio.to_thread(build_tables, counts, hour, previous)
        self._hour = hour
        self._loaded_at = time.monotonic()

    async def record_impression(self, title_id: str, n: int) -> None:
        try:
            await self._redis.hincrby(COUNTS_KEY, _field(title_id, n, "i"), 1)
        except RedisError as exc:  # a lost count, not a failed image
            log.warning("artwork impression not counted: %s", type(exc).__name__)

    async def record_click(self, viewer: str, title_id: str, n: int) -> bool:
        """Count a click on candidate ``n`` unless this viewer clicked this title this hour;
        whether it counted. The dedup key holds a digest, not the viewer id."""
        hour = int(self._clock()) // HOUR_S
        seen = f"{_CLICK_SEEN_PREFIX}{viewer_seed(viewer, title_id, hour):016x}"
        try:
            if not await self._redis.set(seen, b"1", nx=True, ex=HOUR_S):
                return False
            await self._redis.hincrby(COUNTS_KEY, _field(title_id, n, "c"), 1)
        except RedisError as exc:  # a lost count, not a failed answer
            log.warning("artwork click not counted: %s", type(exc).__name__)
            return False
        return True
