"""Which artwork candidate a viewer sees: Thompson sampling on click-through, per title.

Each title's candidates (domain/artwork.py) are arms with Beta(1 + clicks, 1 + impressions -
clicks) posteriors. A viewer's choice is one posterior sample per arm drawn from a generator
seeded by (viewer, title, UTC hour), the highest wins: the same viewer sees the same
candidate for the hour wherever the answer is built (every API process draws the same
numbers) and different viewers spread over the arms in proportion to how likely each is
the best, so the bandit keeps exploring while it converges.

Counting happens where the chosen candidate is known for sure, at serving time:
- an impression when a candidate's poster image is fetched through its signed link (the
  link names the candidate; <img loading=lazy> fetches only what comes near the screen,
  and the browser's cache keeps a repeat view within the link's life from counting twice);
- a click when the viewer opens the title (its detail answer), at most once per viewer,
  title and hour, for the candidate that viewer was being shown.
This keeps the events ingest path untouched and needs no mapping from the pseudonymised
ids in events back to viewers.

The posteriors are read from one Redis hash into the process at most every ``refresh_s``
(a choice is a pure function of that snapshot, so answers need no Redis round trip).
Between refreshes of different processes a viewer's choice can change only when counts
moved the posteriors; with a fixed seed the samples move little, so flips are rare.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Sequence

import numpy as np
from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

COUNTS_KEY = "reelflow:artwork:counts"  # hash: "<title>\t<n>\t<i|c>" -> count
_CLICK_SEEN_PREFIX = "reelflow:artwork:clicked:"  # + digest of viewer, title and hour
HOUR_S = 3600
DEFAULT_REFRESH_S = 60.0


def thompson_choice(
    impressions: Sequence[int], clicks: Sequence[int], rng: np.random.Generator
) -> int:
    """The arm whose Beta posterior sample is highest (uniform priors)."""
    shown = np.asarray(impressions, dtype=np.float64)
    won = np.minimum(np.asarray(clicks, dtype=np.float64), shown)
    return int(np.argmax(rng.beta(1.0 + won, 1.0 + shown - won)))


def viewer_seed(viewer: str, title_id: str, hour: int) -> int:
    """A stable 64-bit seed per viewer, title and hour (not Python's salted hash())."""
    digest = hashlib.blake2b(f"{viewer}\0{title_id}\0{hour}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def _field(title_id: str, n: int, what: str) -> str:
    return f"{title_id}\t{n}\t{what}"


class ArtworkChooser:
    """The per-process posteriors snapshot, the choice, and the counts in Redis."""

    def __init__(self, redis: Redis, *, refresh_s: float = DEFAULT_REFRESH_S) -> None:
        self._redis = redis
        self._refresh_s = refresh_s
        # title -> [impressions per candidate, clicks per candidate]
        self._counts: dict[str, tuple[list[int], list[int]]] = {}
        self._loaded_at = float("-inf")
        self._loading: asyncio.Task[None] | None = None

    def choose(self, viewer: str, title_id: str, count: int, now: float | None = None) -> int:
        """Candidate for this viewer now (0 when the title has one candidate or none)."""
        if count <= 1:
            return 0
        self._refresh_soon()
        shown, won = self._counts.get(title_id, ([], []))
        impressions = [shown[n] if n < len(shown) else 0 for n in range(count)]
        clicks = [won[n] if n < len(won) else 0 for n in range(count)]
        hour = int(time.time() if now is None else now) // HOUR_S
        rng = np.random.default_rng(viewer_seed(viewer, title_id, hour))
        return thompson_choice(impressions, clicks, rng)

    def _refresh_soon(self) -> None:
        """From a catalog answer (sync code on the event loop): start a reload in the
        background if the snapshot is stale; this answer uses the snapshot it has."""
        if time.monotonic() - self._loaded_at < self._refresh_s:
            return
        if self._loading is not None and not self._loading.done():
            return
        try:
            self._loading = asyncio.get_running_loop().create_task(self._load())
        except RuntimeError:
            pass  # not on an event loop (a worker thread): the next async caller reloads

    async def refresh_if_stale(self) -> None:
        """Reload the counts when the snapshot is older than ``refresh_s``; one load at a
        time (concurrent callers go on with the snapshot they have)."""
        if time.monotonic() - self._loaded_at < self._refresh_s:
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
        counts: dict[str, tuple[list[int], list[int]]] = {}
        for key, value in raw.items():
            parts = (key.decode() if isinstance(key, bytes) else str(key)).split("\t")
            if len(parts) != 3 or not parts[1].isdigit() or parts[2] not in ("i", "c"):
                continue  # not ours: ignored rather than trusted
            title_id, n = parts[0], int(parts[1])
            shown, won = counts.setdefault(title_id, ([], []))
            target = shown if parts[2] == "i" else won
            target.extend([0] * (n + 1 - len(target)))
            target[n] = int(value)
        self._counts = counts
        self._loaded_at = time.monotonic()

    async def record_impression(self, title_id: str, n: int) -> None:
        try:
            await self._redis.hincrby(COUNTS_KEY, _field(title_id, n, "i"), 1)
        except RedisError as exc:  # a lost count, not a failed image
            log.warning("artwork impression not counted: %s", type(exc).__name__)

    async def record_click(self, viewer: str, title_id: str, n: int, now: float) -> bool:
        """Count a click on candidate ``n`` unless this viewer clicked this title this hour;
        whether it counted. The dedup key holds a digest, not the viewer id."""
        hour = int(now) // HOUR_S
        seen = f"{_CLICK_SEEN_PREFIX}{viewer_seed(viewer, title_id, hour):016x}"
        try:
            if not await self._redis.set(seen, b"1", nx=True, ex=HOUR_S):
                return False
            await self._redis.hincrby(COUNTS_KEY, _field(title_id, n, "c"), 1)
        except RedisError as exc:  # a lost count, not a failed answer
            log.warning("artwork click not counted: %s", type(exc).__name__)
            return False
        return True
