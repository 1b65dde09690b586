"""The web client's viewer events (reelflow/web/events.js) in Chromium against the real stack:
what the catalog and the player send reaches the event log (the Redis Stream) once each,
what the API refuses for a passing reason is sent again, a refused event is not."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import redis
from playwright.sync_api import Page, expect

from reelflow.events.log import STREAM
from reelflow.events.pseudonym import pseudonym_key, viewer_pseudonym
from reelflow.events.schema import StoredEvent
from tests.web.conftest import CLIP_SECONDS, MAIN_NAME, MAIN_TITLE, NetLog, WebStack
from tests.web.test_player import sign_in, wait_playing

pytestmark = pytest.mark.slow

EVENTS_JS = "import('/events.js')"


def logged(stack: WebStack, sub: str) -> list[StoredEvent]:
    """The viewer's events in the stream (no writer runs in the web stack: they stay there)."""
    viewer = viewer_pseudonym(pseudonym_key(stack.secret), sub)
    client = redis.Redis.from_url(stack.settings.redis_url)
    try:
        rows = client.xrange(STREAM)
    finally:
        client.close()
    events = [StoredEvent.from_json(data[b"e"]) for _id, data in rows]
    return [e for e in events if e.viewer == viewer]


def wait_until(check: Callable[[], bool], what: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    for _ in range(400):
        if check():
            return
        if time.monotonic() > deadline:
            break
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout_s} s: {what}")


def stats(page: Page) -> dict[str, Any]:
    """The page's event queue counters (events.js): tracked (by type), accepted, refused..."""
    answer: dict[str, Any] = page.evaluate(f"async () => (await {EVENTS_JS}).stats")
    return answer


def impressions_tracked(page: Page) -> int:
    return int(stats(page)["tracked"].get("row_impression", 0))


def flush(page: Page) -> None:
    page.evaluate(f"async () => (await {EVENTS_JS}).flushEvents()")


def test_catalog_and_player_events_reach_the_log_once_each(web_stack: WebStack, page: Page) -> None:
    sub = f"evie-{uuid.uuid4().hex[:6]}"
    sign_in(page, web_stack, sub)
    # A row counts as shown once it has been on screen (an IntersectionObserver's report).
    wait_until(lambda: impressions_tracked(page) > 0, "the first home rows shown")
    shown_before = impressions_tracked(page)
    page.fill("#search-input", "harbour")
    page.press("#search-input", "Enter")
    results = page.locator("[aria-label='Search results'] a")
    expect(results).to_have_count(1)
    wait_until(lambda: impressions_tracked(page) > shown_before, "the result grid shown")
    results.first.click()
    expect(page.locator("h1")).to_have_text(MAIN_NAME)
    page.click("[data-action=play] >> nth=0")
    wait_playing(page, 1.5)
    session = page.evaluate("window.reelflow.session.session_id")
    device = page.evaluate("localStorage.getItem('reelflow.device')")
    page.evaluate("document.querySelector('.stage video').pause()")  # a progress event
    shown_before = impressions_tracked(page)
    page.click(".player-head .back")  # leaving the player: play_end, sent at once
    page.wait_for_selector("[data-row='New']")
    # The home rows come into sight (row_impression), then the page is left: the last
    # events go out on pagehide with keepalive.
    wait_until(lambda: impressions_tracked(page) > shown_before, "home row impressions")
    page.goto("about:blank")

    def arrived() -> bool:
        events = logged(web_stack, sub)
        rows = Counter(e.fields.get("row") for e in events if e.type == "row_impression")
        return rows["new"] == 2 and any(e.type == "play_end" for e in events)

    wait_until(arrived, "the player's and the catalog's events in the stream")
    events = logged(web_stack, sub)
    ids = Counter(e.id for e in events)
    assert [i for i, n in ids.items() if n > 1] == []
    by_type: dict[str, list[StoredEvent]] = {}
    for event in events:
        by_type.setdefault(event.type, []).append(event)

    [search] = by_type["search"]
    assert search.fields == {"query": "harbour", "results": 1}
    [click] = by_type["row_click"]
    assert (click.title, click.fields) == (MAIN_TITLE, {"row": "search", "position": 0})
    impressions = [e.fields for e in by_type["row_impression"]]
    assert [f for f in impressions if f["row"] == "search"] == [
        {"row": "search", "position": 0, "titles": [MAIN_TITLE]}
    ]
    # Once per page view (after sign-in, after the player), the titles in page order.
    news = [f for f in impressions if f["row"] == "new"]
    assert len(news) == 2 and all(MAIN_TITLE in f["titles"] for f in news)

    [server] = by_type["session_start"]
    [start] = by_type["play_start"]
    [end] = by_type["play_end"]
    watched = [server, start, end, *by_type["progress"]]
    assert {(e.session, e.title) for e in watched} == {(session, MAIN_TITLE)}
    assert server.fields["drm"] == ["clearkey"]
    assert start.fields["position_s"] < 1.5 <= end.fields["position_s"]
    assert end.fields["reason"] == "stopped"
    paused = max(by_type["progress"], key=lambda e: e.ts).fields
    assert paused["position_s"] >= 1.5
    assert abs(paused["duration_s"] - CLIP_SECONDS) < 1
    # The player's device id on every event it sent, and on the session the API started
    # (the qoe events the API makes of beacons carry the token's device: none here).
    assert {e.device for e in events if e.type != "qoe"} == {device}


@contextmanager
def stream_refuses_appends(stack: WebStack) -> Iterator[None]:
    """The stream key holds a string while inside, so the API's XADD fails (WRONGTYPE) and
    POST /v1/events answers 503; the stream's earlier entries are put back afterwards."""
    client = redis.Redis.from_url(stack.settings.redis_url)
    aside = f"{STREAM}:aside:{uuid.uuid4().hex}"
    kept = bool(client.exists(STREAM))
    if kept:
        client.rename(STREAM, aside)
    client.set(STREAM, "not a stream")
    try:
        yield
    finally:
        client.delete(STREAM)
        if kept:
            client.rename(aside, STREAM)
        client.close()


def test_a_batch_refused_for_a_passing_reason_is_sent_again_a_bad_event_is_dropped(
    web_stack: WebStack, page: Page, netlog: NetLog
) -> None:
    sub = f"rita-{uuid.uuid4().hex[:6]}"
    sign_in(page, web_stack, sub)
    flush(page)  # the home rows' impressions: the queue starts empty
    track = f"async (f) => (await {EVENTS_JS}).track('search', f)"
    with stream_refuses_appends(web_stack):
        good: Any = page.evaluate(track, {"query": "lighthouse", "results": 0})
        bad: Any = page.evaluate(track, {"query": ""})  # the API refuses an empty query
        before = stats(page)
        flush(page)
        assert stats(page)["retried"] == before["retried"] + 2
        assert [r.status for r in netlog.answered("/v1/events")][-1] == 503
    flush(page)  # again, now that the log takes them: the bad one is named and dropped
    after = stats(page)
    assert after["refused"] == before["refused"] + 1
    assert after["accepted"] == before["accepted"] + 1
    posts = len(netlog.urls("/v1/events", "POST"))
    flush(page)  # nothing left to send
    assert len(netlog.urls("/v1/events", "POST")) == posts
    ids = Counter(e.id for e in logged(web_stack, sub))
    assert ids[good] == 1 and ids[bad] == 0
