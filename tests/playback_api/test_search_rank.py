"""The viewer's search order (delivery/search_rank.py) as a pure function: exact names first,
then relevance fused with the viewer's top picks and genres by reciprocal rank."""

from __future__ import annotations

from datetime import UTC, datetime

from reelflow.playback_api.delivery.entitlements import TitleAvailability
from reelflow.playback_api.delivery.search_rank import personal_order
from reelflow.playback_api.delivery.viewer_catalog import CatalogEntry
from reelflow.recs.viewer_recs import ViewerRecs


def entry(title_id: str, name: str, *genres: str) -> CatalogEntry:
    return CatalogEntry(
        id=title_id,
        name=name,
        synopsis="",
        genres=genres,
        rating=None,
        duration_s=60.0,
        published_at=datetime(2026, 1, 1, tzinfo=UTC),
        artwork={},
        availability=TitleAvailability(state="published"),
    )


def recs(top_picks: tuple[str, ...] = (), genres: tuple[str, ...] = ()) -> ViewerRecs:
    return ViewerRecs("hybrid", "1", top_picks, (), genres, (), folded_in=False)


# Relevance order as the full-text search would give it.
MATCHES = [
    entry("a", "Night Train", "drama"),
    entry("b", "Night Sky", "SciFi"),
    entry("c", "The Night", "comedy"),
    entry("d", "night", "drama"),
]


def ids(entries: list[CatalogEntry]) -> list[str]:
    return [e.id for e in entries]


def test_without_affinity_relevance_stays_and_the_exact_name_leads() -> None:
    assert ids(personal_order("NIGHT ", MATCHES, recs())) == ["d", "a", "b", "c"]


def test_top_picks_and_genres_move_titles_up_for_one_viewer_only() -> None:
    fan = recs(top_picks=("c", "zz"), genres=("scifi",))
    # b: relevance 2nd + their genre; c: relevance 3rd + their top pick; a: relevance alone.
    assert ids(personal_order("nigh", MATCHES, fan)) == ["b", "c", "a", "d"]
    other = recs(genres=("drama",))
    assert ids(personal_order("nigh", MATCHES, other)) == ["a", "d", "b", "c"]


def test_every_match_is_kept_once() -> None:
    fan = recs(top_picks=("b", "b", "a"), genres=("drama", "drama"))
    ordered = personal_order("night", MATCHES, fan)
    assert sorted(ids(ordered)) == ["a", "b", "c", "d"]
    assert ids(ordered)[0] == "d"
