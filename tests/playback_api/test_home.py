"""The viewer's home (GET /v1/me/home) and the plan rule on search, over the real app, catalog
and Redis: row order and shape, every row and search result limited to titles the viewer may
play now (takedown, window, region, plan), hostile input, a viewer nobody knows.

The personal rows (top picks, because, trending) and the recommendation experiment need a
trained model: tests/playback_api/test_home_recs.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from reelflow.catalog.models import TitleState
from reelflow.catalog.viewer_queries import save_progress
from reelflow.playback_api.delivery.home_rows import MAX_ROW_LIMIT, slug
from reelflow.playback_api.routes.home import Home
from tests.playback_api.conftest import ApiHarness
from tests.playback_api.test_catalog import assert_problem, set_published_at

HOME = "/v1/me/home"


def row_ids(body: dict[str, Any]) -> list[str]:
    return [row["id"] for row in body["rows"]]


def all_titles(body: dict[str, Any]) -> set[str]:
    return {item["id"] for row in body["rows"] for item in row["items"]}


def publish_hidden(api: ApiHarness, genre: str = "drama") -> set[str]:
    """One title for each reason a viewer in the US on the basic plan may not play it."""
    now = datetime.now(UTC)
    api.publish("pulled", genres=(genre,), state=TitleState.TAKEN_DOWN)
    api.publish("not-yet", genres=(genre,), window_start=now + timedelta(days=1))
    api.publish("gone", genres=(genre,), window_end=now - timedelta(minutes=1))
    api.publish("gb-only", genres=(genre,), regions=("GB",))
    api.publish("premium-only", genres=(genre,), plans=("premium",))
    return {"pulled", "not-yet", "gone", "gb-only", "premium-only"}


def test_rows_in_order_with_continue_watching_new_and_genres(api: ApiHarness) -> None:
    base = datetime(2026, 6, 1, tzinfo=UTC)
    titles = {"dune": ("scifi", "drama"), "heat": ("crime",), "solaris": ("scifi",)}
    for n, (title_id, genres) in enumerate(titles.items()):
        api.publish(title_id, genres=genres)
        set_published_at(api, title_id, base + timedelta(hours=n))
    save_progress(api.engine, "ana", "heat", 6.0, 8.0)

    r = api.client.get(HOME, headers=api.auth(sub="ana"))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    Home.model_validate_json(r.content)  # the answer put together by hand is the documented one
    body = r.json()
    # The catalog's genres, most frequent among the newest titles first (ties: newest first).
    assert row_ids(body) == [
        "continue-watching", "new", "genre-scifi", "genre-crime", "genre-drama",
    ]  # fmt: skip
    rows = {row["id"]: row for row in body["rows"]}
    assert rows["continue-watching"]["kind"] == "continue_watching"
    assert rows["continue-watching"]["title"] == "Continue watching"
    [resume] = rows["continue-watching"]["items"]
    assert (resume["id"], resume["resume_position_s"]) == ("heat", 6.0)
    assert [i["id"] for i in rows["new"]["items"]] == ["solaris", "heat", "dune"]
    assert [i["id"] for i in rows["genre-scifi"]["items"]] == ["solaris", "dune"]
    assert rows["genre-scifi"]["title"] == "Scifi"
    assert "resume_position_s" not in rows["new"]["items"][0]
    assert "/v1/titles/solaris/artwork/poster?v=" in rows["new"]["items"][0]["artwork"]["poster"]
    # No recommender in this app: default model, no personal rows, no experiment.
    assert (body["model"], body["model_version"], body["experiment"]) == ("hybrid", None, None)

    again = api.client.get(HOME, headers=api.auth(sub="ana"))  # from the cached fragments
    assert again.json() == body
    other_country = api.client.get(HOME, headers=api.auth(sub="ana", country="FR")).json()
    poster = other_country["rows"][1]["items"][0]["artwork"]["poster"]
    assert poster != rows["new"]["items"][0]["artwork"]["poster"]  # signed for FR, not US
    limited = api.client.get(HOME, params={"limit": 1, "genre_rows": 1}, headers=api.auth())
    assert row_ids(limited.json()) == ["new", "genre-scifi"]
    assert all(len(row["items"]) == 1 for row in limited.json()["rows"])
    assert row_ids(api.client.get(HOME, params={"genre_rows": 0}, headers=api.auth()).json()) == [
        "new"
    ]


def test_no_row_holds_a_title_the_viewer_cannot_play(api_any_db: ApiHarness) -> None:
    api = api_any_db
    api.publish("open", genres=("drama",), synopsis="A storm.")
    hidden = publish_hidden(api)
    for title_id in ("open", *hidden):  # watched once: continue watching must drop them too
        save_progress(api.engine, "bea", title_id, 6.0, 8.0)

    basic_us = api.auth(sub="bea", plan="basic", country="US")
    body = api.client.get(HOME, headers=basic_us).json()
    assert all_titles(body) == {"open"}
    assert row_ids(body) == ["continue-watching", "new", "genre-drama"]
    watching = api.client.get("/v1/me/continue-watching", headers=basic_us).json()
    assert [i["id"] for i in watching["items"]] == ["open"]

    # The same titles reach the viewers who may play them.
    premium_gb = api.client.get(HOME, headers=api.auth(sub="bea", plan="premium", country="GB"))
    assert all_titles(premium_gb.json()) == {"open", "gb-only", "premium-only"}


def test_search_drops_titles_above_the_plan(api_any_db: ApiHarness) -> None:
    api = api_any_db
    api.publish("storm-one", name="Storm One")
    publish_hidden(api)
    api.publish("storm-premium", name="Storm Premium", plans=("premium",))

    basic = api.client.get("/v1/search", params={"q": "storm"}, headers=api.auth(plan="basic"))
    assert basic.status_code == 200, basic.text
    assert [i["id"] for i in basic.json()["items"]] == ["storm-one"]
    premium = api.client.get("/v1/search", params={"q": "storm"}, headers=api.auth())
    assert sorted(i["id"] for i in premium.json()["items"]) == ["storm-one", "storm-premium"]
    # The browse listing still shows every title of the country, whatever the plan.
    listing = api.client.get("/v1/titles", headers=api.auth(plan="basic")).json()
    assert "storm-premium" in {i["id"] for i in listing["items"]}


def test_rows_have_no_duplicates_and_stop_at_the_limit(api: ApiHarness) -> None:
    for n in range(4):
        api.publish(f"t-{n}", genres=("drama", "Drama"))  # one genre written twice
    body = api.client.get(HOME, params={"limit": 3}, headers=api.auth()).json()
    assert row_ids(body) == ["new", "genre-drama"]
    for row in body["rows"]:
        ids = [i["id"] for i in row["items"]]
        assert len(ids) == len(set(ids)) == 3


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": MAX_ROW_LIMIT + 1},
        {"limit": 10**30},
        {"limit": "many"},
        {"genre_rows": -1},
        {"genre_rows": 21},
        {"genre_rows": "1e9"},
    ],
)
def test_hostile_parameters_are_a_422_problem(api: ApiHarness, params: dict[str, Any]) -> None:
    body = assert_problem(
        api.client.get(HOME, params=params, headers=api.auth()), 422, "validation_error"
    )
    assert next(iter(params)) in str(body)


@pytest.mark.parametrize("sub", ["never-seen", "x" * 256, "ünïcødé/../../etc", "' OR 1=1 --"])
def test_any_viewer_nobody_knows_gets_bounded_rows(api: ApiHarness, sub: str) -> None:
    api.publish("open", genres=("drama",))
    r = api.client.get(HOME, params={"limit": MAX_ROW_LIMIT}, headers=api.auth(sub=sub))
    assert r.status_code == 200, r.text
    assert row_ids(r.json()) == ["new", "genre-drama"]


def test_home_needs_a_valid_token(api: ApiHarness) -> None:
    assert_problem(api.client.get(HOME), 401, "invalid_token")
    forged = api.client.get(HOME, headers={"Authorization": "Bearer not.a.jwt"})
    assert_problem(forged, 401, "invalid_token")
    too_long = api.client.get(HOME, headers=api.auth(sub="x" * 257))  # the token's own bound
    assert_problem(too_long, 401, "invalid_token")


def test_an_empty_catalog_is_an_empty_home(api: ApiHarness) -> None:
    body = api.client.get(HOME, headers=api.auth()).json()
    assert body["rows"] == []


def test_slugs_are_stable_row_ids() -> None:
    assert slug("Science Fiction") == "science-fiction"
    assert slug("  Drama!! ") == "drama"
    assert slug("Film-Noir") == "film-noir"
