"""The playback API's in-process cache of one title at a time: its view and content keys.

Holds ``TitleView`` (title, availability window and live package) and the unsealed
``KeyEntry`` content keys of a package, read from the catalog and kept ``ttl_s`` (2 s by
default). Called by the hot paths through ``ApiContext.titles``: playback start
(routes/playback.py), manifests (routes/manifests.py), licenses (license_auth.py), QoE
beacons and title detail/artwork (routes/catalog.py). Lists of titles are not cached here;
those are viewer_catalog.py's. The SQL of both is reelflow/catalog/viewer_queries.py.

Without it those paths would hit the database on every request. Because entries live only
``ttl_s`` (plus at most ``stale_s`` while one refresh runs), a takedown, a window change or a
key revocation reaches every API process within that time; docs/api.md says so. Database
reads run in a worker thread so the event loop never blocks on them. ``TTLCache`` is also
the filtered-manifest cache of ApiContext.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Generic, TypeVar

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from reelflow.catalog.models import Availability, Package, Title, TitleState
from reelflow.catalog.viewer_queries import package_key_rows, title_for_playback
from reelflow.domain.ids import version_label
from reelflow.keystore.content_keys import KeyPlace, open_key
from reelflow.playback_api.delivery.entitlements import TitleAvailability
from reelflow.playback_api.http.problems import Problem
from reelflow.storage.layout import origin_subpath, parse_origin_key

K = TypeVar("K")
V = TypeVar("V")


class TTLCache(Generic[K, V]):
    """A small async TTL cache: a hit costs a dict lookup, a miss one thread hop.

    Concurrent misses of one key share a single load (no thundering herd of threads when a
    hot entry expires). An expired entry is served while its refresh runs, but only for
    ``stale_s`` past its TTL: after that (the first request after idle) the caller waits for
    the load, so no answer rests on data older than ``ttl_s + stale_s``. A refresh that
    fails drops the entry, so the next caller waits for a new load and sees its error
    instead of old data (fail closed: a revoked key is never served from a broken reload).
    Entries are evicted least recently used past ``max_entries``; ``keep`` says which loaded
    values are cached at all (a title cache keeps no negative lookups).
    """

    def __init__(
        self,
        ttl_s: float,
        max_entries: int = 10_000,
        *,
        stale_s: float | None = None,
        keep: Callable[[V], bool] | None = None,
    ) -> None:
        self.ttl_s = ttl_s
        self.stale_s = min(ttl_s, 0.5) if stale_s is None else stale_s
        self.max_entries = max_entries
        self._keep = keep
        self._data: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self._loading: dict[K, asyncio.Future[V]] = {}
        self._generation = 0  # bumped by invalidate(): loads begun before it are discarded

    def __len__(self) -> int:
        return len(self._data)

    async def get(self, key: K, load: Callable[[], V]) -> V:
        hit = self._data.get(key)
        now = time.monotonic()
        if hit is not None and hit[0] > now:
            self._data.move_to_end(key)
            return hit[1]
        pending = self._loading.get(key)
        if pending is None:
            pending = asyncio.ensure_future(self._load(key, load, self._generation))
            # A failed background refresh must not log "exception never retrieved".
            pending.add_done_callback(lambda f: f.cancelled() or f.exception())
            self._loading[key] = pending
        if hit is not None and hit[0] + self.stale_s > now:
            return hit[1]  # stale by at most stale_s, while one refresh runs
        return await asyncio.shield(pending)

    async def _load(self, key: K, load: Callable[[], V], generation: int) -> V:
        try:
            value = await asyncio.to_thread(load)
        except BaseException:
            if generation == self._generation:
                self._data.pop(key, None)  # never fall back to what the failed reload replaced
            raise
        finally:
            if self._loading.get(key) is not None and generation == self._generation:
                self._loading.pop(key, None)
        if generation == self._generation:
            if self._keep is not None and not self._keep(value):
                self._data.pop(key, None)
            else:
                self._data[key] = (time.monotonic() + self.ttl_s, value)
                self._data.move_to_end(key)
                while len(self._data) > self.max_entries:
                    self._data.popitem(last=False)
        return value

    def invalidate(self, key: K | None = None) -> None:
        self._generation += 1
        self._loading.clear()
        if key is None:
            self._data.clear()
        else:
            self._data.pop(key, None)


@dataclass(frozen=True)
class LivePackage:
    version: int
    origin_prefix: str  # origin/<title>/v<version>
    mpd: str  # relative to origin_prefix
    hls_master: str
    encrypted: bool
    drm_systems: tuple[str, ...]
    kids: dict[str, str]  # track class -> KID hex
    representations: tuple[dict[str, Any], ...]
    artwork: dict[str, list[str]] = field(default_factory=dict)

    @cached_property
    def version_dir(self) -> str:
        """The ``<version>`` part of signed media paths (``v1``)."""
        return version_label(parse_origin_key(self.origin_prefix).version)

    def languages(self, kind: str) -> list[str]:
        return sorted(
            {
                r["language"]
                for r in self.representations
                if r.get("kind") == kind and r.get("language")
            }
        )

    @property
    def max_height(self) -> int:
        return max((r.get("height") or 0 for r in self.representations), default=0)

    @cached_property
    def pictures(self) -> tuple[tuple[int, int], ...]:
        """(width, height) of each video rendition of known size, smallest picture first."""
        sizes = [
            (int(r.get("width") or 0), int(r.get("height") or 0))
            for r in self.representations
            if r.get("kind") == "video"
        ]
        known = [(w, h) for w, h in sizes if w > 0 and h > 0]
        return tuple(sorted(known, key=lambda p: p[0] * p[1]))

    def tallest_within(self, max_pixels: int) -> int:
        """The tallest rendition of at most ``max_pixels`` (what a session is told it may
        reach), 0 if none."""
        return max((h for w, h in self.pictures if w * h <= max_pixels), default=0)


@dataclass(frozen=True)
class TitleView:
    id: str
    name: str
    synopsis: str
    genres: tuple[str, ...]
    rating: str | None
    state: str
    duration_s: float | None
    availability: TitleAvailability
    package: LivePackage | None  # the newest published, not removed, package

    @property
    def published(self) -> bool:
        return self.state == TitleState.PUBLISHED and self.package is not None


@dataclass(frozen=True)
class KeyEntry:
    kid: str
    track_class: str
    key: bytes
    revoked: bool


def _live_package(row: Package | None) -> LivePackage | None:
    if row is None or not row.mpd_key or not row.hls_key:
        return None
    prefix = row.origin_prefix
    return LivePackage(
        version=row.version,
        origin_prefix=prefix,
        mpd=origin_subpath(prefix, row.mpd_key),
        hls_master=origin_subpath(prefix, row.hls_key),
        encrypted=row.encrypted,
        drm_systems=tuple(row.drm_systems),
        kids=dict(row.kids),
        representations=tuple(row.representations),
        artwork=dict(row.artwork or {}),
    )


def _title_view(
    title: Title, availability: Availability | None, package: Package | None
) -> TitleView:
    avail = TitleAvailability(
        state=title.state,
        window_start=availability.window_start if availability else None,
        window_end=availability.window_end if availability else None,
        regions=list(availability.regions) if availability else [],
        plans=list(availability.plans) if availability else [],
    )
    return TitleView(
        id=title.id,
        name=title.name,
        synopsis=title.synopsis,
        genres=tuple(title.genres),
        rating=title.rating,
        state=title.state,
        duration_s=title.duration_s,
        availability=avail,
        package=_live_package(package) if title.state == TitleState.PUBLISHED else None,
    )


def load_title_view(engine: Engine, title_id: str) -> TitleView | None:
    rows = title_for_playback(engine, title_id)
    if rows is None:
        return None
    return _title_view(rows.title, rows.availability, rows.package)


class TitleCache:
    """Cached title views and content keys for the hot paths; keys are unsealed only
    inside this process.

    Unknown ids are not cached (a miss per request, one primary-key read), so random ids
    cannot fill the cache or push live titles out of it. A catalog that cannot be read is
    a 503 ``service_unavailable``: never the view or keys from before the failed reload.
    """

    def __init__(self, engine: Engine, master_keys: dict[int, bytes], ttl_s: float = 2.0) -> None:
        self.engine = engine
        self._master_keys = master_keys
        self._titles: TTLCache[str, TitleView | None] = TTLCache(
            ttl_s, keep=lambda view: view is not None
        )
        self._keys: TTLCache[tuple[str, int], dict[str, KeyEntry]] = TTLCache(ttl_s)

    async def title(self, title_id: str) -> TitleView | None:
        try:
            return await self._titles.get(title_id, lambda: load_title_view(self.engine, title_id))
        except SQLAlchemyError as exc:
            raise _catalog_down() from exc

    async def keys(self, title_id: str, version: int) -> dict[str, KeyEntry]:
        """Content keys of one package by KID hex (clear bytes, for license answers)."""
        try:
            return await self._keys.get(
                (title_id, version), lambda: self._load_keys(title_id, version)
            )
        except SQLAlchemyError as exc:
            raise _catalog_down() from exc

    def _load_keys(self, title_id: str, version: int) -> dict[str, KeyEntry]:
        rows = package_key_rows(self.engine, title_id, version)
        out: dict[str, KeyEntry] = {}
        for row in rows:
            key = open_key(
                row.sealed_key,
                master_keys=self._master_keys,
                kid=bytes.fromhex(row.kid),
                place=KeyPlace(title_id, version, row.track_class),
            )
            out[row.kid] = KeyEntry(row.kid, row.track_class, key, row.revoked)
        return out

    def invalidate(self) -> None:
        self._titles.invalidate()
        self._keys.invalidate()


def _catalog_down() -> Problem:
    return Problem("service_unavailable", "the catalog is not reachable; try again shortly")
