"""The viewer catalog: listing, search and by-id reads of titles a viewer may watch.

Called by routes/catalog.py (``GET /v1/titles``, ``/v1/search``, and ``pick_artwork`` for the
artwork endpoint) and delivery/home_rows.py (the home's rows and continue watching). One title
for playback comes from title_cache.py instead; the lifecycle's own reads and writes are
reelflow/catalog/titles.py. The SQL is reelflow/catalog/viewer_queries.py.

Visibility is decided twice on purpose. SQL narrows the rows (published state, a live
package, window, region, genre) so a page costs one indexed query in the common case;
``entitlements.is_visible`` then has the final word on every row, so the listing can never
disagree with what playback allows. Rows SQL let through but Python rejects only make the
scan read another batch.

Everything here is synchronous SQLAlchemy: call it through ``asyncio.to_thread``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row
from sqlalchemy.engine import Engine

from reelflow.catalog import viewer_queries as q
from reelflow.catalog.models import as_utc
from reelflow.playback_api.auth.signing import BadSignedValue, open_signed_value, sign_value
from reelflow.playback_api.delivery.entitlements import TitleAvailability, is_offered, is_visible

# Rows read per round trip beyond what the page needs, for rows Python turns down.
_SCAN_SLACK = 16
MAX_CURSOR_CHARS = 512
_CURSOR_CONTEXT = b"reelflow catalog-cursor v1"
_SIZE_IN_NAME = re.compile(r"_(\d{1,5})x(\d{1,5})\.[A-Za-z0-9]+$")


@dataclass(frozen=True)
class CatalogEntry:
    """One listable title with what the listing shows (artwork paths relative to origin)."""

    id: str
    name: str
    synopsis: str
    genres: tuple[str, ...]
    rating: str | None
    duration_s: float | None
    published_at: datetime  # UTC-aware
    artwork: dict[str, list[str]]
    availability: TitleAvailability

    @property
    def page_key(self) -> PageKey:
        return PageKey(self.published_at, self.id)


@dataclass(frozen=True)
class PageKey:
    """Position in the listing order (published_at desc, id desc)."""

    published_at: datetime
    title_id: str


class BadCursor(ValueError):
    """A cursor that this server did not issue, or that was altered."""


# ---- cursors -------------------------------------------------------------------------------


def encode_cursor(secret: bytes, key: PageKey) -> str:
    data = {"p": key.published_at.isoformat(), "i": key.title_id}
    return sign_value(secret, _CURSOR_CONTEXT, data)


def decode_cursor(secret: bytes, cursor: str) -> PageKey:
    """The position a cursor names; BadCursor for anything not issued by encode_cursor.

    Signed so a client cannot craft positions (or odd values the database would choke on):
    the only thing a cursor can do is resume a listing where the server left it.
    """
    try:
        data: Any = open_signed_value(secret, _CURSOR_CONTEXT, cursor, max_chars=MAX_CURSOR_CHARS)
        published_at = datetime.fromisoformat(str(data["p"]))
        title_id = str(data["i"])
    except BadSignedValue as exc:
        raise BadCursor(f"cursor: {exc}")
    except (ValueError, KeyError, TypeError):
        raise BadCursor("malformed cursor")
    utc = as_utc(published_at)
    assert utc is not None
    return PageKey(utc, title_id)


# ---- queries -------------------------------------------------------------------------------


def _entry(row: Row[Any]) -> CatalogEntry:
    published_at = as_utc(row.published_at)
    assert published_at is not None  # the query only reads published packages
    return CatalogEntry(
        id=row.id,
        name=row.name,
        synopsis=row.synopsis,
        genres=tuple(row.genres or ()),
        rating=row.rating,
        duration_s=row.duration_s,
        published_at=published_at,
        artwork={k: list(v) for k, v in (row.artwork or {}).items() if isinstance(v, list)},
        availability=TitleAvailability(
            state=row.state,
            window_start=row.window_start,
            window_end=row.window_end,
            regions=list(row.regions or []),
            plans=list(row.plans or []),
        ),
    )


def _allows(country: str, plan: str | None, now: datetime) -> Callable[[CatalogEntry], bool]:
    """The final word on a row: ``is_visible`` for the browse listing (plan does not hide a
    title there), ``is_offered`` (plan too) when a ``plan`` is given: home rows and search."""
    if plan is None:
        return lambda e: is_visible(e.availability, country, now)
    return lambda e: is_offered(e.availability, country, plan, now)


def _collect(
    fetch: Callable[[int, int, PageKey | None], Sequence[Row[Any]]],
    want: int,
    keep: Callable[[CatalogEntry], bool],
) -> list[CatalogEntry]:
    """Read batches until ``want`` entries ``keep`` allows or the end; ``fetch(limit, offset,
    after)``.

    Keyed fetches resume after the last row read; the others (search, ranked by score)
    resume by offset.
    """
    out: list[CatalogEntry] = []
    batch = want + _SCAN_SLACK
    offset = 0
    after: PageKey | None = None
    while True:
        rows = fetch(batch, offset, after)
        for row in rows:
            entry = _entry(row)
            if keep(entry):
                out.append(entry)
                if len(out) == want:
                    return out
        if len(rows) < batch:
            return out
        offset += len(rows)
        after = _entry(rows[-1]).page_key


def list_visible(
    engine: Engine,
    *,
    country: str,
    now: datetime,
    limit: int,
    after: PageKey | None = None,
    genre: str | None = None,
) -> tuple[list[CatalogEntry], PageKey | None]:
    """One page of the listing, newest published first, and the key of the next page."""
    start = after

    def fetch(batch: int, _offset: int, scanned: PageKey | None) -> Sequence[Row[Any]]:
        position = scanned or start
        return q.visible_page_rows(
            engine,
            country=country,
            now=now,
            genre=genre,
            after=None if position is None else (position.published_at, position.title_id),
            limit=batch,
        )

    # One extra entry tells whether another page exists without returning an empty one.
    entries = _collect(fetch, limit + 1, _allows(country, None, now))
    if len(entries) > limit:
        return entries[:limit], entries[limit - 1].page_key
    return entries, None


def search_visible(
    engine: Engine, query: str, *, country: str, now: datetime, limit: int, plan: str | None = None
) -> list[CatalogEntry]:
    """Visible titles matching ``query``, most relevant first (then newest, then id); only
    the ones ``plan`` may play when given (the viewer search)."""

    def fetch(batch: int, offset: int, _after: PageKey | None) -> Sequence[Row[Any]]:
        return q.visible_match_rows(
            engine, query, country=country, now=now, limit=batch, offset=offset
        )

    return _collect(fetch, limit, _allows(country, plan, now))


def visible_by_ids(
    engine: Engine, ids: Iterable[str], *, country: str, now: datetime
) -> dict[str, CatalogEntry]:
    """The visible ones among ``ids``, by id (callers offering them check the plan too)."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = q.visible_rows_by_ids(engine, wanted, country=country, now=now)
    entries = [_entry(row) for row in rows]
    return {e.id: e for e in entries if is_visible(e.availability, country, now)}


# ---- artwork -------------------------------------------------------------------------------


def _image_width(path: str) -> int | None:
    """The width encoded in an artwork file name (``poster_600x900.jpg``), if any."""
    match = _SIZE_IN_NAME.search(path)
    return int(match.group(1)) if match else None


def pick_artwork(paths: Sequence[str], width: int | None) -> str:
    """The smallest image at least ``width`` wide, else the largest (``paths[0]``).

    ``paths`` is largest first, as the publish activity records it; names without a size
    are only ever picked as the largest.
    """
    if not paths:
        raise ValueError("no artwork to pick from")
    if width is None:
        return paths[0]
    sized = [(w, p) for p in paths if (w := _image_width(p)) is not None and w >= width]
    return min(sized)[1] if sized else paths[0]
