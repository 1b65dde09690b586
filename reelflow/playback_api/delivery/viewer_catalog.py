"""The viewer catalog's SQL: listing, search and by-id reads of titles a viewer may watch.

Called only by routes/catalog.py (``GET /v1/titles``, ``/v1/search``,
``/v1/me/continue-watching``, and ``pick_artwork`` for the artwork endpoint). One title
for playback comes from title_cache.py instead; the lifecycle's own reads and writes are
reelflow/catalog/queries.py.

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

from sqlalchemy import (
    ColumnElement,
    Row,
    Select,
    and_,
    exists,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.engine import Engine
from sqlmodel import col

from reelflow.catalog.models import Availability, Package, Title, TitleState, as_utc
from reelflow.catalog.search import match_subquery
from reelflow.playback_api.auth.signing import BadSignedValue, open_signed_value, sign_value
from reelflow.playback_api.delivery.entitlements import TitleAvailability, is_visible

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


def _json_array_has(dialect: str, array: Any, value: ColumnElement[Any]) -> ColumnElement[bool]:
    """SQL for "the JSON array column ``array`` holds ``value``" (case-insensitive)."""
    fn = func.json_each if dialect == "sqlite" else func.json_array_elements_text
    elements = fn(array).table_valued("value").alias("elements")
    # lower() on both sides: SQLite's lower() folds ASCII only, so folding the parameter in
    # Python could disagree with it on non-ASCII capitals.
    return exists(
        select(literal(1))
        .select_from(elements)
        .where(func.lower(elements.c.value) == func.lower(value))
    )


def _visible_select(
    dialect: str, *, country: str, now: datetime, genre: str | None
) -> Select[*tuple[Any, ...]]:
    # The live package is the newest published, not removed version: the one TitleCache
    # serves playback from (a version being replaced stays live until the new one is).
    newest = (
        select(col(Package.title_id).label("title_id"), func.max(Package.version).label("version"))
        .where(col(Package.published_at).is_not(None), col(Package.removed_at).is_(None))
        .group_by(col(Package.title_id))
        .subquery("newest")
    )
    regions = col(Availability.regions)
    stmt = (
        select(
            col(Title.id),
            col(Title.name),
            col(Title.synopsis),
            col(Title.genres),
            col(Title.rating),
            col(Title.duration_s),
            col(Title.state),
            col(Package.published_at),
            col(Package.artwork),
            col(Availability.window_start),
            col(Availability.window_end),
            regions,
            col(Availability.plans),
        )
        .select_from(Title)
        .join(newest, newest.c.title_id == col(Title.id))
        .join(
            Package,
            and_(
                col(Package.title_id) == newest.c.title_id,
                col(Package.version) == newest.c.version,
            ),
        )
        .outerjoin(Availability, col(Availability.title_id) == col(Title.id))
        .where(
            col(Title.state) == TitleState.PUBLISHED,
            col(Package.mpd_key).is_not(None),
            col(Package.hls_key).is_not(None),
            or_(col(Availability.window_start).is_(None), col(Availability.window_start) <= now),
            or_(col(Availability.window_end).is_(None), col(Availability.window_end) > now),
            or_(
                regions.is_(None),
                func.json_array_length(regions) == 0,
                _json_array_has(dialect, regions, literal(country.upper())),
            ),
        )
    )
    if genre is not None:
        stmt = stmt.where(_json_array_has(dialect, col(Title.genres), literal(genre)))
    return stmt


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


def _collect(
    fetch: Callable[[int, int, PageKey | None], Sequence[Row[Any]]],
    want: int,
    *,
    country: str,
    now: datetime,
) -> list[CatalogEntry]:
    """Read batches until ``want`` visible entries or the end; ``fetch(limit, offset, after)``.

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
            if is_visible(entry.availability, country, now):
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
    base = _visible_select(engine.dialect.name, country=country, now=now, genre=genre)
    published_at, title_id = col(Package.published_at), col(Title.id)
    start = after

    def fetch(batch: int, _offset: int, scanned: PageKey | None) -> Sequence[Row[Any]]:
        stmt = base
        position = scanned or start
        if position is not None:
            stmt = stmt.where(
                or_(
                    published_at < position.published_at,
                    and_(published_at == position.published_at, title_id < position.title_id),
                )
            )
        stmt = stmt.order_by(published_at.desc(), title_id.desc()).limit(batch)
        with engine.connect() as conn:
            return list(conn.execute(stmt))

    # One extra entry tells whether another page exists without returning an empty one.
    entries = _collect(fetch, limit + 1, country=country, now=now)
    if len(entries) > limit:
        return entries[:limit], entries[limit - 1].page_key
    return entries, None


def search_visible(
    engine: Engine, q: str, *, country: str, now: datetime, limit: int
) -> list[CatalogEntry]:
    """Visible titles matching ``q``, most relevant first (then newest, then id)."""
    dialect = engine.dialect.name
    matches = match_subquery(dialect, q)
    if matches is None:
        return []
    stmt = (
        _visible_select(dialect, country=country, now=now, genre=None)
        .join(matches, matches.c.title_id == col(Title.id))
        .order_by(matches.c.score.desc(), col(Package.published_at).desc(), col(Title.id).desc())
    )

    def fetch(batch: int, offset: int, _after: PageKey | None) -> Sequence[Row[Any]]:
        with engine.connect() as conn:
            return list(conn.execute(stmt.limit(batch).offset(offset)))

    return _collect(fetch, limit, country=country, now=now)


def visible_by_ids(
    engine: Engine, ids: Iterable[str], *, country: str, now: datetime
) -> dict[str, CatalogEntry]:
    """The visible ones among ``ids``, by id."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    stmt = _visible_select(engine.dialect.name, country=country, now=now, genre=None).where(
        col(Title.id).in_(wanted)
    )
    with engine.connect() as conn:
        entries = [_entry(row) for row in conn.execute(stmt)]
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
