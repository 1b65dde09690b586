"""The viewer catalog over the real app: listing, paging, search, detail, artwork, resume.

Titles are packaged for real (Shaka Packager) and recorded in a real catalog; listing,
search and detail also run on a real PostgreSQL server (``api_any_db``).
"""

from __future__ import annotations

import io
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from PIL import Image
from sqlmodel import select

from reelflow.catalog.db import session_scope
from reelflow.catalog.models import Package, TitleState
from reelflow.catalog.viewer_queries import save_progress
from reelflow.playback_api.auth.signing import sign_value
from reelflow.playback_api.delivery import viewer_catalog as vc
from tests.playback_api.conftest import ApiHarness

PROBLEM = "application/problem+json"
TYPES = "https://reelflow.dev/problems/"


def ids(body: dict[str, Any]) -> list[str]:
    return [item["id"] for item in body["items"]]


def assert_problem(response: Any, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert body["type"] == TYPES + slug
    assert body["status"] == status
    return body


def artwork_path(api: ApiHarness, title_id: str, kind: str = "poster", country: str = "US") -> str:
    """A signed artwork link as a catalog answer would give it (also for titles it would not
    list: hidden and unknown titles must answer like each other)."""
    link = sign_value(
        api.settings.secrets().signing_secret,
        b"reelflow artwork-link v1",
        {"t": title_id, "c": country, "e": int(time.time()) + 3600},
    )
    return f"/v1/titles/{title_id}/artwork/{kind}?v={link}"


def set_published_at(api: ApiHarness, title_id: str, at: datetime) -> None:
    with session_scope(api.engine) as s:
        for row in s.exec(select(Package).where(Package.title_id == title_id)):
            row.published_at = at
            s.add(row)


def relative(api: ApiHarness, url: str) -> str:
    """An absolute API URL as a path for the TestClient, checked to be on the public base."""
    base = api.client.app.state.ctx.public_base  # type: ignore[attr-defined]
    assert url.startswith(base + "/v1/"), url
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


# ---- listing -------------------------------------------------------------------------------


def test_listing_shows_only_what_the_caller_may_watch_now(api_any_db: ApiHarness) -> None:
    api = api_any_db
    now = datetime.now(UTC)
    api.publish("open", name="Open Water", synopsis="Sea.", genres=("drama", "sea"))
    api.publish("gb-only", regions=("GB",))
    api.publish("not-yet", window_start=now + timedelta(days=1))
    api.publish("gone", window_end=now - timedelta(minutes=1))
    api.publish("draft", state=TitleState.PROCESSING)
    api.publish("pulled", state=TitleState.TAKEN_DOWN)
    api.publish("in-window", window_start=now - timedelta(days=1), window_end=now + timedelta(1))

    us = api.client.get("/v1/titles", headers=api.auth(country="US"))
    assert us.status_code == 200, us.text
    assert sorted(ids(us.json())) == ["in-window", "open"]
    assert us.json()["next_cursor"] is None

    gb = api.client.get("/v1/titles", headers=api.auth(country="gb"))
    assert sorted(ids(gb.json())) == ["gb-only", "in-window", "open"]

    item = next(i for i in us.json()["items"] if i["id"] == "open")
    assert item["name"] == "Open Water"
    assert item["synopsis"] == "Sea."
    assert item["genres"] == ["drama", "sea"]
    assert item["duration_s"] == pytest.approx(8.0)
    assert item["rating"] is None
    published = datetime.fromisoformat(item["published_at"])
    assert abs(published - now) < timedelta(minutes=5)
    for kind in ("poster", "backdrop"):
        assert f"/v1/titles/open/artwork/{kind}?v=" in item["artwork"][kind]
        relative(api, item["artwork"][kind])


def test_listing_is_newest_published_first(api_any_db: ApiHarness) -> None:
    api = api_any_db
    base = datetime(2026, 1, 1, tzinfo=UTC)
    for n, title_id in enumerate(("oldest", "middle", "newest")):
        api.publish(title_id)
        set_published_at(api, title_id, base + timedelta(hours=n))
    body = api.client.get("/v1/titles", headers=api.auth()).json()
    assert ids(body) == ["newest", "middle", "oldest"]


def test_paging_returns_every_title_once_across_pages(api_any_db: ApiHarness) -> None:
    api = api_any_db
    base = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
    # Three titles share one instant: only the id tie-breaker keeps pages from overlapping.
    stamps = {
        "t-a": base,
        "t-b": base,
        "t-c": base,
        "t-d": base + timedelta(seconds=1),
        "t-e": base - timedelta(seconds=1),
        "t-f": base + timedelta(microseconds=1),
    }
    for title_id, at in stamps.items():
        api.publish(title_id)
        set_published_at(api, title_id, at)
    api.publish("blocked", regions=("FR",))
    set_published_at(api, "blocked", base)

    headers = api.auth(country="US")
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        response = api.client.get("/v1/titles", params=params, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        assert 1 <= len(body["items"]) <= 2
        seen += ids(body)
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 3  # six titles in pages of two: no empty trailing page
    assert seen == ["t-d", "t-f", "t-c", "t-b", "t-a", "t-e"]


def test_limit_bounds_are_validated(api: ApiHarness) -> None:
    for limit in (0, 101, -1):
        response = api.client.get("/v1/titles", params={"limit": limit}, headers=api.auth())
        assert_problem(response, 422, "validation_error")


def test_tampered_cursors_are_refused_cleanly(api: ApiHarness) -> None:
    for title_id in ("c-1", "c-2", "c-3"):
        api.publish(title_id)
    headers = api.auth()
    first = api.client.get("/v1/titles", params={"limit": 1}, headers=headers).json()
    cursor = first["next_cursor"]
    assert cursor

    body, mac = cursor.split(".")
    flipped = body[:-1] + ("A" if body[-1] != "A" else "B")
    forged_secret = vc.encode_cursor(
        b"not the server's secret", vc.PageKey(datetime(2030, 1, 1, tzinfo=UTC), "c-9")
    )
    for bad in (
        f"{flipped}.{mac}",
        f"{body}.{mac[:-2]}",
        forged_secret,
        "garbage",
        "..",
        "a.b",
        "%%%.@@@",
        "é.é",
        "x" * 600,
    ):
        response = api.client.get("/v1/titles", params={"cursor": bad}, headers=headers)
        assert_problem(response, 422, "validation_error")

    again = api.client.get("/v1/titles", params={"cursor": cursor}, headers=headers)
    assert again.status_code == 200
    assert set(ids(again.json())).isdisjoint(ids(first))


def test_genre_filter(api_any_db: ApiHarness) -> None:
    api = api_any_db
    api.publish("drama-1", genres=("Drama",))
    api.publish("comedy-1", genres=("comedy",))
    api.publish("both", genres=("comedy", "drama"))
    api.publish("drama-gb", genres=("drama",), regions=("GB",))
    headers = api.auth(country="US")

    drama = api.client.get("/v1/titles", params={"genre": "drama"}, headers=headers).json()
    assert sorted(ids(drama)) == ["both", "drama-1"]
    comedy = api.client.get("/v1/titles", params={"genre": "COMEDY"}, headers=headers).json()
    assert sorted(ids(comedy)) == ["both", "comedy-1"]
    none = api.client.get("/v1/titles", params={"genre": "horror"}, headers=headers).json()
    assert none == {"items": [], "next_cursor": None}
    # The filter is a value, not a pattern.
    wild = api.client.get("/v1/titles", params={"genre": "%"}, headers=headers).json()
    assert ids(wild) == []
    for bad in ("\x00", "drama\x00", "\n", "x" * 65):
        response = api.client.get("/v1/titles", params={"genre": bad}, headers=headers)
        assert_problem(response, 422, "validation_error")


# ---- search --------------------------------------------------------------------------------


@pytest.fixture
def searchable(api_any_db: ApiHarness) -> ApiHarness:
    api = api_any_db
    api.publish("dragon-quest", name="Dragon Quest", synopsis="A knight rides north.")
    api.publish(
        "lake-house",
        name="The Lake House",
        synopsis="A dragon sleeps beneath the lake.",
        genres=("mystery",),
    )
    api.publish("star-harbour", name="Star Harbour", synopsis="Smugglers.", genres=("sci-fi",))
    api.publish("dragon-gb", name="Dragon Isle", regions=("GB",))
    api.publish("dragon-draft", name="Dragon Draft", state=TitleState.PROCESSING)
    return api


def test_search_ranks_name_matches_first_and_hides_invisible_titles(
    searchable: ApiHarness,
) -> None:
    api = searchable
    response = api.client.get("/v1/search", params={"q": "dragon"}, headers=api.auth(country="US"))
    assert response.status_code == 200, response.text
    assert ids(response.json()) == ["dragon-quest", "lake-house"]
    item = response.json()["items"][0]
    assert item["name"] == "Dragon Quest"
    assert "/v1/titles/dragon-quest/artwork/poster?v=" in item["artwork"]["poster"]

    gb = api.client.get("/v1/search", params={"q": "dragon"}, headers=api.auth(country="GB"))
    assert set(ids(gb.json())) == {"dragon-quest", "lake-house", "dragon-gb"}


def test_search_matches_prefixes_genres_and_synopsis(searchable: ApiHarness) -> None:
    api = searchable
    headers = api.auth()

    def found(q: str) -> list[str]:
        response = api.client.get("/v1/search", params={"q": q}, headers=headers)
        assert response.status_code == 200, response.text
        return ids(response.json())

    assert found("drag")[0] == "dragon-quest"
    assert found("star harb") == ["star-harbour"]
    assert found("mystery") == ["lake-house"]
    assert found("smugglers") == ["star-harbour"]
    assert found("knight dragon") == ["dragon-quest"]
    assert found("zeppelin") == []


def test_search_limit(searchable: ApiHarness) -> None:
    api = searchable
    response = api.client.get("/v1/search", params={"q": "dragon", "limit": 1}, headers=api.auth())
    assert ids(response.json()) == ["dragon-quest"]
    over = api.client.get("/v1/search", params={"q": "dragon", "limit": 51}, headers=api.auth())
    assert_problem(over, 422, "validation_error")


HOSTILE_QUERIES = [
    '"',
    '"dragon',
    "*",
    "dragon*",
    "NEAR(",
    "NEAR(dragon quest, 2)",
    "name:dragon",
    "-",
    "-dragon",
    "dragon -quest",
    "AND OR NOT",
    "a & b | !c",
    "x:*",
    "(",
    "'; DROP TABLE titles; --",
    "\\",
    "\x00",
    "drag\x00on",
    "🐉 dragon",
    "ドラゴン",
    "Ünïcödé",
    "   ",
    "d" * 200,
]


def test_hostile_search_queries_never_fail(searchable: ApiHarness) -> None:
    # One publish for all queries; failures are collected so every bad query is named.
    headers = searchable.auth()
    failures: dict[str, Any] = {}
    for q in HOSTILE_QUERIES:
        response = searchable.client.get("/v1/search", params={"q": q}, headers=headers)
        if response.status_code != 200:
            failures[q] = response.status_code
        elif not set(ids(response.json())) <= {"dragon-quest", "lake-house", "star-harbour"}:
            failures[q] = ids(response.json())
    assert failures == {}
    # Syntax characters around a real word are ignored, not fatal to the match.
    for q in ('"dragon', "dragon*", "🐉 dragon", "(dragon)"):
        response = searchable.client.get("/v1/search", params={"q": q}, headers=headers)
        assert "dragon-quest" in ids(response.json()), q


def test_search_query_length_is_bounded(api: ApiHarness) -> None:
    for params in ({"q": "d" * 201}, {"q": ""}, {}):
        response = api.client.get("/v1/search", params=params, headers=api.auth())
        assert_problem(response, 422, "validation_error")


# ---- detail --------------------------------------------------------------------------------


def test_detail_has_languages_window_and_resume_position(api_any_db: ApiHarness) -> None:
    api = api_any_db
    start = datetime(2025, 1, 1, tzinfo=UTC)
    end = datetime.now(UTC) + timedelta(days=30)
    api.publish(
        "film", name="Film", synopsis="S.", genres=("drama",), window_start=start, window_end=end
    )
    headers = api.auth(sub="viewer-1")

    fresh = api.client.get("/v1/titles/film", headers=headers)
    assert fresh.status_code == 200, fresh.text
    body = fresh.json()
    assert body["id"] == "film"
    assert body["name"] == "Film"
    assert body["audio_languages"] == ["en"]
    assert body["subtitle_languages"] == ["en"]
    assert body["max_height"] == 720
    assert body["duration_s"] == pytest.approx(8.0)
    assert datetime.fromisoformat(body["availability"]["start"]) == start
    assert datetime.fromisoformat(body["availability"]["end"]) == end
    assert body["resume_position_s"] == 0.0
    assert "/v1/titles/film/artwork/poster?v=" in body["artwork"]["poster"]

    save_progress(api.engine, "viewer-1", "film", 6.25, 8.0)
    resumed = api.client.get("/v1/titles/film", headers=headers).json()
    assert resumed["resume_position_s"] == pytest.approx(6.25)
    # Progress belongs to the account: another viewer starts at the beginning.
    other = api.client.get("/v1/titles/film", headers=api.auth(sub="viewer-2")).json()
    assert other["resume_position_s"] == 0.0

    save_progress(api.engine, "viewer-1", "film", 7.9, 8.0)  # past 95%: finished
    finished = api.client.get("/v1/titles/film", headers=headers).json()
    assert finished["resume_position_s"] == 0.0


def test_hidden_titles_look_exactly_like_missing_ones(api: ApiHarness) -> None:
    api.publish("gb-film", regions=("GB",))
    api.publish("unreleased", window_start=datetime.now(UTC) + timedelta(days=3))
    api.publish("draft", state=TitleState.PROCESSING)
    headers = api.auth(country="US")

    missing = assert_problem(api.client.get("/v1/titles/nope", headers=headers), 404, "not_found")
    for title_id in ("gb-film", "unreleased", "draft", "bad%20id", "-dash-first", "a" * 200):
        response = api.client.get(f"/v1/titles/{title_id}", headers=headers)
        body = assert_problem(response, 404, "not_found")
        assert body == missing

    gb = api.client.get("/v1/titles/gb-film", headers=api.auth(country="GB"))
    assert gb.status_code == 200


# ---- artwork -------------------------------------------------------------------------------


def image_size(content: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(content)) as image:
        assert image.format == "JPEG"
        return image.size


def test_artwork_is_served_without_a_token(api: ApiHarness) -> None:
    api.publish("art-film")
    detail = api.client.get("/v1/titles/art-film", headers=api.auth()).json()
    poster_url = relative(api, detail["artwork"]["poster"])

    poster = api.client.get(poster_url)  # no Authorization header: <img> tags send none
    assert poster.status_code == 200
    assert poster.headers["content-type"] == "image/jpeg"
    assert poster.headers["cache-control"] == "private, max-age=600"
    assert int(poster.headers["content-length"]) == len(poster.content)
    assert image_size(poster.content) == (600, 900)  # the largest by default

    backdrop = api.client.get(relative(api, detail["artwork"]["backdrop"]))
    assert image_size(backdrop.content) == (1280, 720)


@pytest.mark.parametrize(
    ("width", "expected"),
    [(1, (300, 450)), (300, (300, 450)), (301, (600, 900)), (600, (600, 900)), (5000, (600, 900))],
)
def test_artwork_width_picks_the_smallest_wide_enough(
    api: ApiHarness, width: int, expected: tuple[int, int]
) -> None:
    api.publish("sized")
    response = api.client.get(artwork_path(api, "sized") + f"&width={width}")
    assert response.status_code == 200
    assert image_size(response.content) == expected


def test_artwork_of_unpublished_or_unknown_titles_is_not_found(api: ApiHarness) -> None:
    api.publish("draft-art", state=TitleState.PROCESSING)
    api.publish("pulled-art", state=TitleState.TAKEN_DOWN)
    for path in (
        artwork_path(api, "draft-art"),
        artwork_path(api, "pulled-art", "backdrop"),
        artwork_path(api, "nobody"),
        artwork_path(api, "..%2F..%2Fsecrets"),
    ):
        assert_problem(api.client.get(path), 404, "not_found")


def test_artwork_kind_and_width_are_validated(api: ApiHarness) -> None:
    api.publish("valid-art")
    sprite = artwork_path(api, "valid-art", "sprite")
    assert_problem(api.client.get(sprite), 422, "validation_error")
    for width in (0, -5, 10_001):
        response = api.client.get(artwork_path(api, "valid-art") + f"&width={width}")
        assert_problem(response, 422, "validation_error")


def test_artwork_missing_from_the_store_is_not_found(api: ApiHarness) -> None:
    published = api.publish("lost-art")
    for info in list(api.store.list(f"{published.origin_prefix}/art/")):
        api.store.delete(info.key)
    response = api.client.get(artwork_path(api, "lost-art"))
    assert_problem(response, 404, "not_found")


# ---- continue watching ---------------------------------------------------------------------


def test_continue_watching_is_recent_first_and_skips_finished_and_hidden(
    api_any_db: ApiHarness,
) -> None:
    api = api_any_db
    for title_id in ("first", "second", "done", "barely"):
        api.publish(title_id)
    api.publish("gb-only", regions=("GB",))
    account = "watcher"
    save_progress(api.engine, account, "first", 6.0, 8.0)
    save_progress(api.engine, account, "gb-only", 6.0, 8.0)
    save_progress(api.engine, account, "done", 7.9, 8.0)  # finished
    save_progress(api.engine, account, "barely", 2.0, 8.0)  # too early to resume
    save_progress(api.engine, account, "ghost", 30.0, 100.0)  # no such title
    save_progress(api.engine, account, "second", 5.5, 8.0)
    save_progress(api.engine, "someone-else", "done", 6.0, 8.0)

    response = api.client.get("/v1/me/continue-watching", headers=api.auth(sub=account))
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert [i["id"] for i in items] == ["second", "first"]
    assert [i["resume_position_s"] for i in items] == [5.5, 6.0]
    assert all(i["duration_s"] == pytest.approx(8.0) for i in items)
    watched = [datetime.fromisoformat(i["last_watched_at"]) for i in items]
    assert watched[0] >= watched[1]

    gb = api.client.get("/v1/me/continue-watching", headers=api.auth(sub=account, country="GB"))
    assert [i["id"] for i in gb.json()["items"]] == ["second", "gb-only", "first"]

    limited = api.client.get(
        "/v1/me/continue-watching", params={"limit": 1}, headers=api.auth(sub=account)
    )
    assert [i["id"] for i in limited.json()["items"]] == ["second"]


def test_continue_watching_is_empty_for_a_new_account(api: ApiHarness) -> None:
    api.publish("anything")
    response = api.client.get("/v1/me/continue-watching", headers=api.auth())
    assert response.status_code == 200
    assert response.json() == {"items": []}


# ---- authentication ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/v1/titles", "/v1/titles/film", "/v1/search?q=film", "/v1/me/continue-watching"],
)
def test_viewer_endpoints_need_a_bearer_token(api: ApiHarness, path: str) -> None:
    api.publish("film")
    missing = api.client.get(path)
    assert_problem(missing, 401, "invalid_token")
    assert missing.headers["www-authenticate"].startswith("Bearer")
    forged = api.client.get(path, headers={"Authorization": "Bearer not.a.jwt"})
    assert_problem(forged, 401, "invalid_token")
    assert api.client.get(path, headers=api.auth()).status_code == 200


# ---- pure helpers --------------------------------------------------------------------------


def test_pick_artwork() -> None:
    paths = ["art/poster_600x900.jpg", "art/poster_300x450.jpg"]
    assert vc.pick_artwork(paths, None) == "art/poster_600x900.jpg"
    assert vc.pick_artwork(paths, 200) == "art/poster_300x450.jpg"
    assert vc.pick_artwork(paths, 450) == "art/poster_600x900.jpg"
    assert vc.pick_artwork(paths, 9000) == "art/poster_600x900.jpg"
    # Names without a size are only ever the "largest" fallback.
    assert vc.pick_artwork(["art/key.jpg", "art/small_100x50.jpg"], 80) == "art/small_100x50.jpg"
    assert vc.pick_artwork(["art/key.jpg", "art/small_100x50.jpg"], 200) == "art/key.jpg"


def test_cursor_round_trip() -> None:
    key = vc.PageKey(datetime(2026, 5, 6, 7, 8, 9, 123456, tzinfo=UTC), "title-1")
    token = vc.encode_cursor(b"s" * 32, key)
    assert vc.decode_cursor(b"s" * 32, token) == key
    with pytest.raises(vc.BadCursor):
        vc.decode_cursor(b"t" * 32, token)
