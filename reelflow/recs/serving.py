"""The API's recommendations reader (``RecsReader``): precomputed lists when still fresh,
a fold-in from the viewer's latest watching otherwise.

Build it once per API process: ``RecsService.from_settings(settings, redis, store, engine)``
(a ``redis.asyncio`` client, the object store, the catalog engine).

Per request: the viewer's precomputed hash (rows_cache.py) and their viewing progress rows
from the catalog (the real-time history; the events store the model trains on is behind
it) are read together. The hash answers when it is at least as new as the newest progress
row and was made by the serving version (or the viewer has no progress rows to refold);
otherwise the viewer is folded in from those rows
with the loaded serving model and the result is written back (with the TTL), so the next
request is a cache hit until they watch again. Trending is always the request's country.

The serving model is loaded once per process from the object store and reloaded when the
serving pointer names another version (checked at most every ``recs_model_poll_s``).
With no trained model at all the lists are empty and ``model_version`` is ""; the home then
shows its New and genre rows.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.engine import Engine

from reelflow.catalog.models import ViewingProgress
from reelflow.catalog.viewer_queries import recent_progress
from reelflow.config import Settings
from reelflow.events.pseudonym import pseudonym_key, viewer_pseudonym
from reelflow.recs.interactions import watch_strength
from reelflow.recs.model_store import ModelStore
from reelflow.recs.rows_cache import decode_rows, encode_rows, rows_key
from reelflow.recs.serving_model import ServingModel, Viewing
from reelflow.recs.viewer_recs import RECS_MODELS, RecsModel, ViewerRecs
from reelflow.storage import ObjectStore

log = logging.getLogger(__name__)

# Progress rows a fold-in reads: the newest, which are what the hybrid weighs most.
FOLD_IN_HISTORY = 200


class ServingModels:
    """The serving model of this process: loaded once, reloaded when the pointer moves."""

    def __init__(self, models: ModelStore, poll_s: float) -> None:
        self.models = models
        self.poll_s = poll_s
        self._model: ServingModel | None = None
        self._checked = -float("inf")
        self._lock = asyncio.Lock()

    async def current(self) -> ServingModel | None:
        if time.monotonic() - self._checked < self.poll_s:
            return self._model
        async with self._lock:
            if time.monotonic() - self._checked >= self.poll_s:
                await self._refresh()
        return self._model

    async def _refresh(self) -> None:
        try:
            version = await asyncio.to_thread(self.models.serving_version)
            if version is not None and (self._model is None or self._model.version != version):
                self._model = await asyncio.to_thread(self.models.load, version)
                log.info("recommendations: serving model version %d loaded", version)
        except Exception:
            # A store hiccup or a bad version keeps the model already loaded serving.
            log.exception("recommendations: the serving model could not be refreshed")
        self._checked = time.monotonic()


def _seconds(at: datetime) -> float:
    # SQLite hands back naive datetimes; the catalog stores UTC.
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp()


def viewings(rows: Sequence[ViewingProgress]) -> list[Viewing]:
    """The catalog's progress rows as history: how far into each title, when."""
    out = []
    for row in rows:
        fraction = row.position_s / row.duration_s if row.duration_s else None
        out.append(Viewing(row.title_id, _seconds(row.updated_at), watch_strength(fraction, None)))
    return out


def no_model(model: RecsModel) -> ViewerRecs:
    return ViewerRecs(model, "", (), (), (), (), folded_in=False)


class RecsService:
    def __init__(
        self,
        redis: Redis,
        models: ModelStore,
        engine: Engine,
        key: bytes,
        *,
        rows_ttl_s: int,
        poll_s: float,
    ) -> None:
        self.redis = redis
        self.engine = engine
        self.serving = ServingModels(models, poll_s)
        self._key = key
        self._ttl = rows_ttl_s

    @classmethod
    def from_settings(
        cls, settings: Settings, redis: Redis, store: ObjectStore, engine: Engine
    ) -> RecsService:
        return cls(
            redis,
            ModelStore(store),
            engine,
            pseudonym_key(settings.secrets().signing_secret),
            rows_ttl_s=settings.recs_rows_ttl_s,
            poll_s=settings.recs_model_poll_s,
        )

    async def viewer_recs(self, viewer_sub: str, country: str, model: RecsModel) -> ViewerRecs:
        if model not in RECS_MODELS:
            raise ValueError(f"unknown recommendation model {model!r}")
        serving = await self.serving.current()
        if serving is None:
            return no_model(model)
        viewer = viewer_pseudonym(self._key, viewer_sub)
        raw, progress = await asyncio.gather(
            self._cached(viewer),
            asyncio.to_thread(recent_progress, self.engine, viewer_sub, FOLD_IN_HISTORY),
        )
        newest = max((_seconds(row.updated_at) for row in progress), default=0.0)
        cached = decode_rows(raw)
        # Rows of another version (a promotion or rollback since) are refolded from the
        # progress rows; with none (their history is only in the events store) the older
        # rows still beat a stranger's trending until the next precompute.
        current = cached is not None and (cached.version == str(serving.version) or not progress)
        if cached and current and cached.at >= newest:
            recs = cached.recs(model)
            if recs is not None:
                return replace(recs, trending=serving.trending(country))
        lists = await asyncio.to_thread(serving.recs, viewings(progress), country)
        if progress:  # a stranger's lists are trending: nothing worth a key per viewer
            await self._keep(viewer, encode_rows(lists, str(serving.version), newest))
        return replace(lists[model], folded_in=True)

    # Redis is a cache here: without it every request folds in (slower, same lists), so its
    # errors are logged rather than failing the home page.
    async def _cached(self, viewer: str) -> Mapping[bytes | str, bytes | str]:
        try:
            raw: Mapping[bytes | str, bytes | str] = await self.redis.hgetall(rows_key(viewer))
            return raw
        except RedisError as exc:
            log.warning("recommendations: precomputed rows unreadable (%s); folding in", exc)
            return {}

    async def _keep(self, viewer: str, fields: dict[str, str]) -> None:
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.hset(rows_key(viewer), mapping=fields)  # type: ignore[arg-type]
                pipe.expire(rows_key(viewer), self._ttl)
                await pipe.execute()
        except RedisError as exc:
            log.warning("recommendations: folded-in rows not cached (%s)", exc)
