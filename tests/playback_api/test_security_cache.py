"""Attacks on the 2 s title cache (stale revocations, a failing reload, cache filling) and
on the artwork endpoint (embargoed and geo-blocked titles, unsigned links).

Real SQLite catalog, real Redis, real packaged titles; nothing invalidates the cache by
hand, so every change reaches the API only through the TTL, as it does in production.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from reelflow.catalog import titles as q
from reelflow.catalog.db import session_scope
from reelflow.catalog.models import ContentKeyRow
from reelflow.playback_api.auth.signing import sign_value
from reelflow.playback_api.delivery.title_cache import TTLCache
from tests.playback_api.conftest import ApiHarness
from tests.playback_api.test_catalog import artwork_path
from tests.playback_api.test_playback import license_for, start

PROBLEMS = "https://reelflow.dev/problems/"


def _past_ttl(api: ApiHarness) -> None:
    cache = api.client.app.state.ctx.titles._titles  # type: ignore[attr-defined]
    time.sleep(cache.ttl_s + cache.stale_s + 0.2)


def b64(kid_hex: str) -> str:
    return base64.urlsafe_b64encode(bytes.fromhex(kid_hex)).rstrip(b"=").decode()


@contextmanager
def _table_gone(api: ApiHarness, table: str) -> Iterator[None]:
    """The catalog loses a table (a broken migration, a dropped table) and gets it back."""
    with api.engine.begin() as conn:
        conn.execute(text(f"ALTER TABLE {table} RENAME TO {table}_gone"))
    try:
        yield
    finally:
        with api.engine.begin() as conn:
            conn.execute(text(f"ALTER TABLE {table}_gone RENAME TO {table}"))


def _problem(response: Any, status: int, slug: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["type"] == PROBLEMS + slug


def test_a_revoked_key_is_refused_on_the_first_license_after_the_ttl(api: ApiHarness) -> None:
    title = api.publish("tt-main")
    session = start(api, "tt-main")
    wanted = [title.kid("SD"), title.kid("AUDIO")]
    assert len(license_for(api, session, wanted).json()["keys"]) == 2  # cache now warm
    with session_scope(api.engine) as s:
        row = s.get(ContentKeyRow, title.kid("SD"))
        assert row is not None
        row.revoked = True
        s.add(row)
    _past_ttl(api)  # idle: the cached keys are older than the TTL now
    answer = license_for(api, session, wanted)
    assert answer.status_code == 200, answer.text
    assert [k["kid"] for k in answer.json()["keys"]] == [b64(title.kid("AUDIO"))]
    only_sd = license_for(api, session, [title.kid("SD")])
    _problem(only_sd, 403, "key_withheld")


def test_a_taken_down_title_is_refused_on_the_first_request_after_the_ttl(
    api: ApiHarness,
) -> None:
    api.publish("tt-main")
    session = start(api, "tt-main")
    assert license_for(api, session, [api.published["tt-main"].kid("SD")]).status_code == 200
    q.append_event(
        api.engine, title_id="tt-main", event="taken_down", actor="test", state="taken_down"
    )
    _past_ttl(api)
    _problem(license_for(api, session, [api.published["tt-main"].kid("SD")]), 404, "not_published")
    _problem(api.start_playback("tt-main", api.auth()), 404, "not_published")
    detail = api.client.get("/v1/titles/tt-main", headers=api.auth())
    _problem(detail, 404, "not_found")


@pytest.mark.parametrize("table", ["titles", "content_keys"])
def test_a_failing_catalog_reload_is_503_never_the_stale_entry(api: ApiHarness, table: str) -> None:
    title = api.publish("tt-main")
    session = start(api, "tt-main")
    assert license_for(api, session, [title.kid("SD")]).status_code == 200
    with _table_gone(api, table):
        _past_ttl(api)
        for _ in range(3):  # every request while the catalog is broken, not only the first
            _problem(license_for(api, session, [title.kid("SD")]), 503, "service_unavailable")
        if table == "titles":
            _problem(api.start_playback("tt-main", api.auth()), 503, "service_unavailable")
    # The catalog is back: so is service, without a restart.
    assert license_for(api, session, [title.kid("SD")]).status_code == 200


def test_unknown_ids_do_not_fill_the_title_cache(api: ApiHarness) -> None:
    api.publish("tt-main")
    headers = api.auth()
    assert api.client.get("/v1/titles/tt-main", headers=headers).status_code == 200
    titles = api.client.app.state.ctx.titles  # type: ignore[attr-defined]
    assert len(titles._titles) == 1
    for n in range(10_000):  # half through the artwork links, half through title detail
        unknown = f"x{uuid.uuid4().hex}"
        if n % 2:
            response = api.client.get(artwork_path(api, unknown))
        else:
            response = api.client.get(f"/v1/titles/{unknown}", headers=headers)
        assert response.status_code == 404
    assert len(titles._titles) == 1  # only the real title, still cached
    assert api.client.get("/v1/titles/tt-main", headers=headers).status_code == 200


# ---- artwork: the listing's visibility rule, no existence oracle ---------------------------


def test_embargoed_and_geo_blocked_artwork_answers_like_an_unknown_title(
    api: ApiHarness,
) -> None:
    now = datetime.now(UTC)
    api.publish("tt-soon", window_start=now + timedelta(days=7))
    api.publish("tt-fr", regions=("FR",))
    api.publish("tt-gone", window_start=now - timedelta(days=9), window_end=now - timedelta(days=1))
    api.publish("tt-open")
    unknown = api.client.get(artwork_path(api, "tt-nothing"))
    _problem(unknown, 404, "not_found")
    hidden = {
        "embargoed": artwork_path(api, "tt-soon"),
        "geo-blocked": artwork_path(api, "tt-fr", country="US"),
        "window ended": artwork_path(api, "tt-gone", "backdrop"),
    }
    for case, path in hidden.items():
        response = api.client.get(path)
        assert (response.status_code, response.json()) == (404, unknown.json()), case
    assert api.client.get(artwork_path(api, "tt-open")).status_code == 200
    # The French viewer's own catalog gives a link that works; it works for nobody's US link.
    listing = api.client.get("/v1/titles", headers=api.auth(country="FR")).json()
    fr_link = next(i["artwork"]["poster"] for i in listing["items"] if i["id"] == "tt-fr")
    assert api.client.get(fr_link.removeprefix("http://127.0.0.1:8000")).status_code == 200
    us = api.client.get("/v1/titles", headers=api.auth(country="US")).json()
    assert "tt-fr" not in [i["id"] for i in us["items"]]


def test_unsigned_altered_and_expired_artwork_links_are_refused_for_any_title(
    api: ApiHarness,
) -> None:
    api.publish("tt-open")
    good = artwork_path(api, "tt-open")
    link = good.split("?v=", 1)[1]
    body, mac = link.split(".")
    refusals = {
        "unsigned, known title": "/v1/titles/tt-open/artwork/poster",
        "unsigned, unknown title": "/v1/titles/tt-nothing/artwork/poster",
        "link of another title": f"/v1/titles/tt-nothing/artwork/poster?v={link}",
        "altered signature": f"/v1/titles/tt-open/artwork/poster?v={body}.{mac[::-1]}",
        "not a link": "/v1/titles/tt-open/artwork/poster?v=garbage",
    }
    answers = set()
    for case, path in refusals.items():
        response = api.client.get(path)
        assert response.status_code == 403, (case, response.text)
        answers.add(json.dumps(response.json(), sort_keys=True) if "unsigned" in case else "")
    assert len(answers - {""}) == 1  # known and unknown titles: the same refusal
    expired = sign_value(
        api.settings.secrets().signing_secret,
        b"reelflow artwork-link v1",
        {"t": "tt-open", "c": "US", "e": int(time.time()) - 1},
    )
    _problem(api.client.get(f"/v1/titles/tt-open/artwork/poster?v={expired}"), 410, "link_expired")


# ---- TTLCache itself -----------------------------------------------------------------------


async def test_a_stale_entry_is_served_only_within_the_bound_while_one_refresh_runs() -> None:
    cache: TTLCache[str, int] = TTLCache(ttl_s=0.2, stale_s=0.2)
    assert await cache.get("k", lambda: 1) == 1
    release = threading.Event()

    def slow() -> int:
        release.wait(5)
        return 2

    await asyncio.sleep(0.25)  # expired, inside the stale bound: served while refreshing
    assert await cache.get("k", slow) == 1
    await asyncio.sleep(0.25)  # past ttl + stale_s: this caller waits for the refresh
    waiting = asyncio.ensure_future(cache.get("k", slow))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    release.set()
    assert await waiting == 2


async def test_a_failed_refresh_drops_the_entry() -> None:
    cache: TTLCache[str, int] = TTLCache(ttl_s=0.1, stale_s=0.5)

    def broken() -> int:
        raise RuntimeError("catalog down")

    assert await cache.get("k", lambda: 1) == 1
    await asyncio.sleep(0.15)
    assert await cache.get("k", broken) == 1  # within the bound, while the refresh runs
    await asyncio.sleep(0.05)  # the refresh has failed by now
    with pytest.raises(RuntimeError):
        await cache.get("k", broken)  # well within ttl + stale_s, yet not served again
    assert len(cache) == 0


def test_the_lru_bound_holds() -> None:
    async def fill() -> TTLCache[int, int]:
        cache: TTLCache[int, int] = TTLCache(ttl_s=60, max_entries=100)
        await cache.get(0, lambda: 0)
        for i in range(1, 1000):
            await cache.get(i, lambda i=i: i)  # type: ignore[misc]
            await cache.get(0, lambda: -1)  # kept hot: never evicted
        return cache

    cache = asyncio.run(fill())
    assert len(cache) == 100
    assert asyncio.run(_hit(cache, 0)) == 0


async def _hit(cache: TTLCache[int, int], key: int) -> int:
    return await cache.get(key, lambda: -1)
