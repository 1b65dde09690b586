"""Full-text search over titles on SQLite FTS5 and on a real PostgreSQL server.

Searched through ``search_visible``, the viewer search the API runs, so the titles are
published with a live package and open everywhere.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.engine import Engine

from reelflow.catalog import titles as q
from reelflow.catalog.db import session_scope
from reelflow.catalog.models import Package, TitleState, utcnow
from reelflow.catalog.search import (
    MAX_QUERY_CHARS,
    fts5_match,
    match_subquery,
    normalize_query,
)
from reelflow.playback_api.delivery.viewer_catalog import CatalogEntry, search_visible

HOSTILE = [
    '"',
    '""',
    '"unbalanced',
    "*",
    "drag*",
    "NEAR(",
    "NEAR(dragon quest, 2)",
    "name:dragon",
    "-",
    "-dragon",
    "dragon -",
    "dragon OR",
    "AND OR NOT",
    "^dragon",
    "(dragon",
    "dragon)",
    "a & b | !c",
    "x:*",
    "'; DROP TABLE titles; --",
    "\\",
    "\x00dragon\x00",
    "drag\ud800on",  # a lone surrogate cannot be encoded for either driver
    "\u200b\u200d",
    "🐉",
    "ドラゴン",
    "Ünïcödé",
    "d" * MAX_QUERY_CHARS,
    "dragon " * 40,
]


@pytest.fixture
def titles(catalog: Engine) -> Engine:
    q.upsert_title(
        catalog,
        title_id="dragon-quest",
        name="Dragon Quest",
        synopsis="A knight rides north.",
        genres=["fantasy"],
    )
    q.upsert_title(
        catalog,
        title_id="lake-house",
        name="The Lake House",
        synopsis="A dragon sleeps beneath the lake for a thousand years.",
        genres=["drama"],
    )
    q.upsert_title(
        catalog,
        title_id="star-harbour",
        name="Star Harbour",
        synopsis="Smugglers in orbit.",
        genres=["sci-fi", "thriller"],
    )
    now = utcnow()
    # Published newest first in id order, so equal scores rank by id as well.
    for age, title_id in enumerate(("dragon-quest", "lake-house", "star-harbour")):
        origin = f"origin/{title_id}/v1"
        with session_scope(catalog) as s:
            s.add(
                Package(
                    title_id=title_id,
                    version=1,
                    origin_prefix=origin,
                    mpd_key=f"{origin}/manifest.mpd",
                    hls_key=f"{origin}/master.m3u8",
                    published_at=now - timedelta(minutes=age),
                )
            )
        q.append_event(
            catalog, title_id=title_id, event="published", actor="test", state=TitleState.PUBLISHED
        )
    return catalog


def search(engine: Engine, query: str) -> list[CatalogEntry]:
    return search_visible(engine, query, country="US", now=utcnow(), limit=20)


def ids(engine: Engine, query: str) -> list[str]:
    return [entry.id for entry in search(engine, query)]


def test_name_match_outranks_synopsis_match(titles: Engine) -> None:
    assert ids(titles, "dragon") == ["dragon-quest", "lake-house"]


def test_last_term_matches_as_a_prefix(titles: Engine) -> None:
    assert ids(titles, "drag") == ["dragon-quest", "lake-house"]
    assert ids(titles, "star harb") == ["star-harbour"]


def test_every_term_must_match(titles: Engine) -> None:
    assert ids(titles, "dragon knight") == ["dragon-quest"]
    assert ids(titles, "dragon smugglers") == []


def test_genres_and_synopsis_are_searched(titles: Engine) -> None:
    assert ids(titles, "thriller") == ["star-harbour"]
    assert ids(titles, "smugglers") == ["star-harbour"]
    assert ids(titles, "fantasy") == ["dragon-quest"]


def test_stemming_matches_word_forms(titles: Engine) -> None:
    assert ids(titles, "sleeping") == ["lake-house"]
    assert ids(titles, "knights") == ["dragon-quest"]


def test_index_follows_title_updates(titles: Engine) -> None:
    q.upsert_title(titles, title_id="star-harbour", name="Moon Harbour", genres=["comedy"])
    assert ids(titles, "star") == []
    assert ids(titles, "moon") == ["star-harbour"]
    assert ids(titles, "comedy") == ["star-harbour"]


@pytest.mark.parametrize("query", HOSTILE)
def test_hostile_queries_never_raise(titles: Engine, query: str) -> None:
    hits = search(titles, query)
    assert all(h.id in {"dragon-quest", "lake-house", "star-harbour"} for h in hits)


def test_operators_are_plain_text(titles: Engine) -> None:
    # Were NEAR, the column filter or the quotes live syntax, these would error or differ.
    assert ids(titles, '"dragon"') == ["dragon-quest", "lake-house"]
    assert ids(titles, "NEAR(dragon") == []
    assert "dragon-quest" in ids(titles, "dragon quest")


def test_queries_without_words_match_nothing(titles: Engine) -> None:
    for query in ("", "   ", "*", '"', "-", "🐉", "\x00"):
        assert ids(titles, query) == []
        assert match_subquery(titles.dialect.name, query) is None


def test_fts5_expression_quotes_every_term() -> None:
    assert fts5_match("star wa") == '"star" "wa"*'
    assert fts5_match('say "hi" NEAR(x') == '"say" """hi""" "NEAR(x"*'
    assert fts5_match("name:foo *") == '"name:foo"*'
    assert fts5_match("* - ()") is None


def test_normalize_blanks_control_characters_and_caps_length() -> None:
    assert normalize_query("a\x00b\tc\n  d") == "a b c d"
    assert normalize_query("drag\ud800on") == "drag on"
    assert len(normalize_query("x" * (MAX_QUERY_CHARS + 50))) == MAX_QUERY_CHARS
