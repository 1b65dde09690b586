"""Full-text search over titles (name, synopsis, genres) on SQLite FTS5 or PostgreSQL.

Migration 0002 builds the index: an external-content FTS5 table ``titles_fts`` on SQLite,
a generated, weighted ``titles.search_vector`` on PostgreSQL. Both are queried through
``match_subquery`` so callers can join matches against their own filters (visibility); the
one caller is the viewer search, playback_api/delivery/viewer_catalog.search_visible.

User text never reaches either query language unescaped:

* FTS5: every whitespace-separated term becomes a double-quoted string (inner quotes
  doubled), so operators (``NEAR``, ``AND``, ``-``, ``*``, ``^``, ``col:``) are plain
  text. The last term is a prefix query, so type-ahead finds "Dragon" from "drag".
* PostgreSQL: ``websearch_to_tsquery`` never raises on syntax. The prefix form of the
  last term goes through ``to_tsquery`` only when that term is letters and digits alone,
  which cannot contain the quote or backslash that would break out of the quoted lexeme.

Semantics differ slightly: PostgreSQL honours websearch syntax (``"phrases"``, ``or``,
``-exclusion``) and English stemming; SQLite matches every term (porter stemming, and
accents ignored).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from sqlalchemy import ColumnElement, Subquery, column, func, literal_column, select, table
from sqlmodel import col

from reelflow.catalog.models import Title

MAX_QUERY_CHARS = 200

# Field weights, highest first: name, then genres, then synopsis. PostgreSQL encodes the
# same order as setweight A/B/C in the generated column (ts_rank: 1.0 / 0.4 / 0.2).
_FTS5_WEIGHTS = {"name": 5.0, "synopsis": 1.0, "genres": 2.0}

# Letters and digits only: safe between the single quotes of a to_tsquery lexeme.
_PLAIN_WORD = re.compile(r"[^\W_]+")
# Control characters and lone surrogates: NUL is refused by PostgreSQL text and ends an
# FTS5 string early, and surrogates cannot be encoded for either driver.
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cs"})

_ENGLISH: ColumnElement[Any] = literal_column("'english'::regconfig")
_titles_fts = table("titles_fts", column("rowid"))


def normalize_query(q: str) -> str:
    """The query with unsafe characters blanked and whitespace collapsed (may be empty)."""
    cleaned = "".join(
        " " if unicodedata.category(ch) in _UNSAFE_CATEGORIES else ch for ch in q[:MAX_QUERY_CHARS]
    )
    return " ".join(cleaned.split())


def fts5_match(q: str) -> str | None:
    """An FTS5 MATCH expression: all terms, quoted, the last as a prefix; None if no words.

    Terms without a letter or digit are dropped: FTS5 reads them as empty phrases, and one
    empty phrase would make the whole AND match nothing.
    """
    terms = [t for t in normalize_query(q).split(" ") if any(ch.isalnum() for ch in t)]
    if not terms:
        return None
    quoted = ['"' + t.replace('"', '""') + '"' for t in terms]
    quoted[-1] += "*"
    return " ".join(quoted)


def pg_tsquery(q: str) -> ColumnElement[Any] | None:
    """The PostgreSQL tsquery for ``q``; None if nothing searchable remains."""
    norm = normalize_query(q)
    if not any(ch.isalnum() for ch in norm):
        return None
    full = func.websearch_to_tsquery(_ENGLISH, norm)
    head, _, last = norm.rpartition(" ")
    if not _PLAIN_WORD.fullmatch(last):
        return full
    # "star wa" should find "Star Wars": the whole query as typed, or everything before the
    # last word plus that word as a prefix. A stop word as the prefix yields an empty
    # tsquery, which && drops, so the head alone still matches.
    prefix = func.to_tsquery(_ENGLISH, f"'{last}':*")
    return full.op("||")(func.websearch_to_tsquery(_ENGLISH, head).op("&&")(prefix))


def match_subquery(dialect: str, q: str) -> Subquery | None:
    """Titles matching ``q`` as a subquery of (title_id, score); None if ``q`` has no words.

    ``dialect`` is ``engine.dialect.name``. Only titles are matched: state, availability
    and packages are the caller's filters.
    """
    if dialect == "sqlite":
        expr = fts5_match(q)
        if expr is None:
            return None
        fts: ColumnElement[Any] = literal_column("titles_fts")
        w = _FTS5_WEIGHTS
        # bm25 is lower-is-better (negative); negate so both backends sort score descending.
        score = -func.bm25(fts, w["name"], w["synopsis"], w["genres"])
        stmt = (
            select(col(Title.id).label("title_id"), score.label("score"))
            .select_from(_titles_fts)
            .join(Title, literal_column("titles.rowid") == _titles_fts.c.rowid)
            .where(fts.op("MATCH")(expr))
        )
        return stmt.subquery("matches")
    if dialect == "postgresql":
        tsq = pg_tsquery(q)
        if tsq is None:
            return None
        vector: ColumnElement[Any] = literal_column("titles.search_vector")
        stmt = select(
            col(Title.id).label("title_id"),
            func.ts_rank(vector, tsq).label("score"),
        ).where(vector.op("@@")(tsq))
        return stmt.subquery("matches")
    raise NotImplementedError(f"full-text search is not implemented for {dialect}")
