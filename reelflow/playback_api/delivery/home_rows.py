"""The viewer's home (``GET /v1/me/home``): which rows, in what order, and what is in them.

Rows, in order: Continue watching, Top picks for you, Because you watched <title> (one per
anchor), Trending in <country>, New, then one row per genre, the viewer's strongest genre
first. The personal lists come from the recommender (``recs.viewer_recs.ViewerRecs``,
unfiltered title ids); this module turns ids into titles and filters every row at request
time with ``entitlements.is_offered`` (published, live package, window, region and plan), so
a row never holds a title the viewer cannot play, even when the list was computed an hour
ago. Rows keep the order they were given, drop duplicates, stop at ``limit``, and a row left
empty is not answered at all.

Reads stay cheap: ids are looked up in one batch per request for the ones not cached
(``EntryCache``), and the rows that are the same for everyone in a country (New, genres) are
read once per country and genre (``HomeCatalog.pool``). Both keep entries ``CACHE_TTL_S``, as
long as the title cache keeps a title for playback, so a takedown leaves the home within the
same time it leaves playback; the window and the plan are checked again on every request.
Continue watching reads the viewer's progress rows on every request (they change as they
watch).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from sqlalchemy.engine import Engine

from reelflow.catalog.models import as_utc, utcnow
from reelflow.catalog.viewer_queries import recent_progress
from reelflow.playback_api.auth.auth import Viewer
from reelflow.playback_api.delivery import viewer_catalog as vc
from reelflow.playback_api.delivery.entitlements import is_offered
from reelflow.playback_api.delivery.title_cache import TTLCache
from reelflow.playback_api.delivery.viewing_progress import effective_position
from reelflow.recs.viewer_recs import LIST_LENGTH, ViewerRecs

log = logging.getLogger(__name__)

RowKind = Literal["continue_watching", "top_picks", "because", "trending", "new", "genre"]
ROW_LIMIT = 20  # titles per row unless the caller asks for fewer or more
MAX_ROW_LIMIT = 50
GENRE_ROWS = 6
MAX_GENRE_ROWS = 20
# As long as the title cache keeps a title for playback (title_cache.py): a takedown leaves
# the home in the same time it leaves playback.
CACHE_TTL_S = 2.0
# Progress rows read for continue watching; finished and hidden titles are dropped after.
PROGRESS_SCAN = 200
# Titles read for a shared row (New, a genre): twice the largest row, so titles above the
# viewer's plan can be dropped and still leave a full row.
_POOL = 2 * MAX_ROW_LIMIT
_MAX_GENRE_CHARS = 64
_NOT_SLUG = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True)
class Resume:
    position_s: float
    watched_at: datetime


@dataclass(frozen=True)
class HomeRow:
    id: str  # stable: the same row keeps its id across requests (the web's row events)
    kind: RowKind
    title: str
    entries: tuple[vc.CatalogEntry, ...]
    resume: Mapping[str, Resume] = field(default_factory=dict)  # continue watching only


class EntryCache:
    """Listable titles by (country, id), kept ``ttl_s``; misses are read in one batch.

    Unlike ``TTLCache`` this loads many keys at once (a home names a few hundred ids); a
    title not visible in the country is cached as such (None) for the same time. As in
    ``TTLCache``, an entry past its TTL is still served for ``stale_s`` while one background
    read refreshes the expired ids of that request (so the 2 s refresh of a busy catalog is
    not a burst of requests waiting on the database); older than that, the request waits. A
    refresh that fails drops the entries it was refreshing (fail closed)."""

    def __init__(
        self,
        engine: Engine,
        ttl_s: float = CACHE_TTL_S,
        max_entries: int = 50_000,
        stale_s: float = 0.5,
    ) -> None:
        self._engine = engine
        self._ttl_s = ttl_s
        self._stale_s = stale_s
        self._max = max_entries
        self._data: OrderedDict[tuple[str, str], tuple[float, vc.CatalogEntry | None]] = (
            OrderedDict()
        )
        self._refreshing: set[tuple[str, str]] = set()
        self._tasks: set[asyncio.Task[None]] = set()  # held so they are not collected

    async def get_many(self, country: str, ids: Iterable[str]) -> dict[str, vc.CatalogEntry]:
        now = time.monotonic()
        found: dict[str, vc.CatalogEntry] = {}
        missing: list[str] = []
        stale: list[str] = []
        for title_id in dict.fromkeys(ids):
            hit = self._data.get((country, title_id))
            if hit is None or hit[0] + self._stale_s <= now:
                missing.append(title_id)
                continue
            if hit[0] <= now and (country, title_id) not in self._refreshing:
                stale.append(title_id)
            if hit[1] is not None:
                found[title_id] = hit[1]
        if stale:
            self._refreshing.update((country, t) for t in stale)
            task = asyncio.ensure_future(self._refresh(country, stale))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        if missing:
            found.update(await self._load(country, missing))
        return found

    async def _refresh(self, country: str, ids: list[str]) -> None:
        try:
            await self._load(country, ids)
        except Exception:
            for title_id in ids:
                self._data.pop((country, title_id), None)
            log.warning("home: catalog entries not refreshed", exc_info=True)
        finally:
            self._refreshing.difference_update((country, t) for t in ids)

    async def _load(self, country: str, ids: list[str]) -> dict[str, vc.CatalogEntry]:
        loaded = await asyncio.to_thread(
            vc.visible_by_ids, self._engine, ids, country=country, now=utcnow()
        )
        expires = time.monotonic() + self._ttl_s
        for title_id in ids:
            self._data[(country, title_id)] = (expires, loaded.get(title_id))
            self._data.move_to_end((country, title_id))
        while len(self._data) > self._max:
            self._data.popitem(last=False)
        return loaded


class RenderCache:
    """Answer fragments (a title's JSON, a shared row's) by key, each valid only for a source
    equal to the one it was made from (the catalog entry, the row's entries): a title the
    catalog changed is a miss, so a fragment never shows more than the entry caches above
    hold. Least recently used out past ``max_entries``."""

    def __init__(self, max_entries: int = 20_000) -> None:
        self._max = max_entries
        self._data: OrderedDict[tuple[Hashable, ...], tuple[object, bytes]] = OrderedDict()

    def get(self, key: tuple[Hashable, ...], source: object) -> bytes | None:
        hit = self._data.get(key)
        if hit is None or (hit[0] is not source and hit[0] != source):
            return None
        self._data.move_to_end(key)
        return hit[1]

    def put(self, key: tuple[Hashable, ...], source: object, data: bytes) -> None:
        self._data[key] = (source, data)
        self._data.move_to_end(key)
        while len(self._data) > self._max:
            self._data.popitem(last=False)


class HomeCatalog:
    """The home's cached catalog reads (see the module docstring); one per API process."""

    def __init__(self, engine: Engine, ttl_s: float = CACHE_TTL_S) -> None:
        self.engine = engine
        self.entries = EntryCache(engine, ttl_s)
        self.rendered = RenderCache()
        self._pools: TTLCache[tuple[str, str | None], tuple[vc.CatalogEntry, ...]] = TTLCache(
            ttl_s, max_entries=4096
        )

    async def pool(self, country: str, genre: str | None) -> tuple[vc.CatalogEntry, ...]:
        """Newest published first, visible in ``country`` (of ``genre`` when given)."""

        def load() -> tuple[vc.CatalogEntry, ...]:
            entries, _ = vc.list_visible(
                self.engine, country=country, now=utcnow(), limit=_POOL, genre=genre
            )
            return tuple(entries)

        return await self._pools.get((country, genre), load)


def slug(text: str) -> str:
    return _NOT_SLUG.sub("-", text.lower()).strip("-")


def _pick(
    ids: Iterable[str],
    entries: Mapping[str, vc.CatalogEntry],
    offered: Callable[[vc.CatalogEntry], bool],
    limit: int,
) -> tuple[vc.CatalogEntry, ...]:
    """The first ``limit`` distinct ids that name a title the viewer may play now."""
    out: dict[str, vc.CatalogEntry] = {}
    for title_id in ids:
        entry = entries.get(title_id)
        if entry is not None and title_id not in out and offered(entry):
            out[title_id] = entry
            if len(out) == limit:
                break
    return tuple(out.values())


async def continue_watching(
    catalog: HomeCatalog, viewer: Viewer, now: datetime, limit: int
) -> HomeRow:
    """Titles the viewer started and has not finished, most recently watched first."""
    rows = await asyncio.to_thread(recent_progress, catalog.engine, viewer.sub, PROGRESS_SCAN)
    entries = await catalog.entries.get_many(viewer.country, [r.title_id for r in rows])
    picked: dict[str, vc.CatalogEntry] = {}
    resume: dict[str, Resume] = {}
    for row in rows:
        entry = entries.get(row.title_id)
        if entry is None or not is_offered(entry.availability, viewer.country, viewer.plan, now):
            continue
        position = effective_position(row.position_s, entry.duration_s or row.duration_s)
        watched_at = as_utc(row.updated_at)
        if position <= 0 or watched_at is None or entry.id in picked:
            continue
        picked[entry.id] = entry
        resume[entry.id] = Resume(position, watched_at)
        if len(picked) == limit:
            break
    entries_row = tuple(picked.values())
    return HomeRow(
        "continue-watching", "continue_watching", "Continue watching", entries_row, resume
    )


def _personal_ids(recs: ViewerRecs) -> list[str]:
    ids = [*recs.top_picks[:LIST_LENGTH], *recs.trending[:LIST_LENGTH]]
    for because in recs.because:
        ids.append(because.anchor)
        ids.extend(because.items[:LIST_LENGTH])
    return ids


def _genre_order(recs: ViewerRecs | None, pool: Sequence[vc.CatalogEntry]) -> list[str]:
    """The viewer's genres strongest first, then the catalog's (the newest titles' most
    frequent first), each once (case-insensitively)."""
    counts = Counter(g for e in pool for g in e.genres)
    ordered = [*(recs.genres if recs else ()), *(g for g, _ in counts.most_common())]
    seen: dict[str, str] = {}
    for genre in ordered:
        key = slug(genre)
        if key and len(genre) <= _MAX_GENRE_CHARS and key not in seen:
            seen[key] = genre
    return list(seen.values())


def _heading(genre: str) -> str:
    return genre[:1].upper() + genre[1:]


async def home_rows(
    catalog: HomeCatalog,
    viewer: Viewer,
    recs: ViewerRecs | None,
    watching: HomeRow,
    *,
    now: datetime,
    limit: int,
    genre_rows: int,
) -> list[HomeRow]:
    """The viewer's rows, in order, each filtered for what they may play now; empty rows
    are left out. ``watching``: their ``continue_watching`` row (read beside the
    recommender's lists); ``recs`` None (the recommender failed): the rows that need none."""

    def offered(entry: vc.CatalogEntry) -> bool:
        return is_offered(entry.availability, viewer.country, viewer.plan, now)

    rows = [watching]
    if recs is not None:
        entries = await catalog.entries.get_many(viewer.country, _personal_ids(recs))
        rows.append(
            HomeRow(
                "top-picks",
                "top_picks",
                "Top picks for you",
                _pick(recs.top_picks, entries, offered, limit),
            )
        )
        for because in recs.because:
            anchor = entries.get(because.anchor)
            if anchor is not None:  # the anchor's name is only shown while it is listed
                items = _pick((t for t in because.items if t != anchor.id), entries, offered, limit)
                title = f"Because you watched {anchor.name}"
                rows.append(HomeRow(f"because-{slug(anchor.id)}", "because", title, items))
        trending = _pick(recs.trending, entries, offered, limit)
        rows.append(HomeRow("trending", "trending", f"Trending in {viewer.country}", trending))
    newest = await catalog.pool(viewer.country, None)
    rows.append(HomeRow("new", "new", "New", _pick_pool(newest, offered, limit)))
    rows = [row for row in rows if row.entries]
    # A genre the viewer likes may have nothing they can play here: the next one takes its
    # place, up to twice as many tries as rows asked for.
    shown = 0
    for genre in _genre_order(recs, newest)[: 2 * genre_rows]:
        if shown == genre_rows:
            break
        pool = await catalog.pool(viewer.country, genre)
        if items := _pick_pool(pool, offered, limit):
            rows.append(HomeRow(f"genre-{slug(genre)}", "genre", _heading(genre), items))
            shown += 1
    return rows


def _pick_pool(
    pool: Sequence[vc.CatalogEntry], offered: Callable[[vc.CatalogEntry], bool], limit: int
) -> tuple[vc.CatalogEntry, ...]:
    """The first ``limit`` entries of a pool (distinct already) the viewer may play now."""
    out: list[vc.CatalogEntry] = []
    for entry in pool:
        if offered(entry):
            out.append(entry)
            if len(out) == limit:
                break
    return tuple(out)
