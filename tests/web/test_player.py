"""The web player in Debian's Chromium against the real stack (see conftest.py)."""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from reelflow.playback_api.auth.auth import Plan
from reelflow.playback_api.auth.signing import verify_playback_token
from tests.web.conftest import (
    FUTURE_TITLE,
    GEO_TITLE,
    MAIN_NAME,
    MAIN_TITLE,
    PREMIUM_TITLE,
    NetLog,
    WebStack,
    token_of,
)

pytestmark = pytest.mark.slow

VIDEO = ".stage video"
SIGNED_MEDIA = re.compile(rf"^/media/\d+/[A-Za-z0-9_-]+/s[0-9a-f]{{32}}/{MAIN_TITLE}/v1/")
THUMB_CUE = re.compile(r"([\d:.]+) --> ([\d:.]+)[^\n]*\n(\S+?)#xywh=(\d+),(\d+),(\d+),(\d+)")


def sign_in(
    page: Page,
    stack: WebStack,
    sub: str,
    plan: Plan = "premium",
    country: str = "US",
    screenshot: Path | None = None,
) -> None:
    page.goto(stack.url + "/")
    page.fill("#signin-sub", sub)
    if screenshot is not None:
        page.screenshot(path=screenshot)
    page.select_option("#signin-plan", plan)
    page.fill("#signin-country", country)
    page.click("#dev-signin button[type=submit]")
    expect(page.locator("#account-label")).to_contain_text(sub)
    page.wait_for_selector("[data-row='New']")


def open_title_and_play(page: Page, stack: WebStack, title_id: str = MAIN_TITLE) -> None:
    page.goto(f"{stack.url}/#/title/{title_id}")
    page.click("[data-action=play] >> nth=0")


def wait_playing(page: Page, beyond_s: float = 1.0) -> None:
    page.wait_for_function(
        """t => { const v = document.querySelector('.stage video');
                  return v && !v.paused && v.currentTime > t && v.videoWidth > 0; }""",
        arg=beyond_s,
    )


def video_state(page: Page) -> dict[str, Any]:
    state: dict[str, Any] = page.evaluate(
        """() => { const v = document.querySelector('.stage video');
                   return {t: v.currentTime, w: v.videoWidth, h: v.videoHeight,
                           paused: v.paused, muted: v.muted}; }"""
    )
    return state


def kid_hex(b64url: str) -> str:
    return base64.urlsafe_b64decode(b64url + "==").hex()


def licensed_kids(netlog: NetLog) -> set[str]:
    kids: set[str] = set()
    for response in netlog.answered("/v1/license/clearkey"):
        assert response.status == 200, response.text()
        kids |= {kid_hex(k["kid"]) for k in response.json()["keys"]}
    return kids


def test_sign_in_browse_search_and_play(
    web_stack: WebStack, page: Page, netlog: NetLog, tmp_path: Path
) -> None:
    sign_in(page, web_stack, f"ada-{uuid.uuid4().hex[:6]}", screenshot=tmp_path / "signin.png")
    # Rows: "New" and one per genre; only what a US premium viewer may see.
    new = page.locator("[data-row='New']")
    expect(new.locator(f"a[data-title-id='{MAIN_TITLE}']")).to_be_visible()
    expect(page.locator(f"[data-row='Mystery'] a[data-title-id='{MAIN_TITLE}']")).to_be_visible()
    expect(page.locator(f"[data-row='Drama'] a[data-title-id='{PREMIUM_TITLE}']")).to_be_visible()
    for hidden in (GEO_TITLE, FUTURE_TITLE):
        expect(page.locator(f"a[data-title-id='{hidden}']")).to_have_count(0)
    poster = new.locator(f"a[data-title-id='{MAIN_TITLE}'] img")
    expect(poster).to_have_js_property("complete", True)
    assert poster.evaluate("img => img.naturalWidth") > 0
    page.screenshot(path=tmp_path / "catalog.png")

    page.fill("#search-input", "harbour")
    page.press("#search-input", "Enter")
    results = page.locator("[aria-label='Search results'] a")
    expect(results).to_have_count(1)
    results.first.click()
    expect(page.locator("h1")).to_have_text(MAIN_NAME)
    facts = page.locator(".facts")
    expect(facts).to_contain_text("English")
    expect(facts).to_contain_text("Available now")
    page.screenshot(path=tmp_path / "title.png")

    page.click("[data-action=play]")
    wait_playing(page, 1.0)
    first = video_state(page)
    page.wait_for_timeout(1000)
    later = video_state(page)
    assert later["t"] > first["t"] + 0.5, (first, later)
    assert later["w"] > 0 and later["muted"]

    # The API issued the ClearKey license for this very session.
    session = page.evaluate("window.reelflow.session")
    license_posts = [r for r in netlog.requests if "/v1/license/clearkey" in r.url]
    assert license_posts and all(r.method == "POST" for r in license_posts)
    # With the viewer's own token: the session's links alone get no license.
    assert all(r.headers.get("authorization", "").startswith("Bearer ") for r in license_posts)
    for request in license_posts:
        claim = verify_playback_token(
            web_stack.secret, token_of(request.url), time.time(), session_id=session["session_id"]
        )
        assert claim.title_id == MAIN_TITLE
    assert licensed_kids(netlog)

    # Every segment (and the thumbnails track) came through the signed media prefix.
    fetched = [
        r for r in netlog.requests if r.resource_type == "fetch" and r.url.startswith(web_stack.url)
    ]
    media = [r for r in fetched if not r.url.startswith(web_stack.url + "/v1/")]
    assert media, "no segment requests seen"
    for request in media:
        path = request.url.removeprefix(web_stack.url)
        assert SIGNED_MEDIA.match(path), path
    assert any("video" in r.url or re.search(r"\d+p", r.url) for r in media)
    assert any("audio" in r.url for r in media)

    # A QoE beacon with the startup time was accepted.
    beacons = [r for r in netlog.requests if r.url.endswith("/v1/qoe")]
    assert beacons and beacons[0].response() is not None
    assert beacons[0].response().status == 202  # type: ignore[union-attr]
    assert json.loads(beacons[0].post_data or "{}")["startup_ms"] > 0

    # Menus: the premium manifest's heights (720p included), English audio and subtitles.
    heights = page.evaluate("[...new Set(reelflow.player.getVariantTracks().map(t => t.height))]")
    assert 720 in heights
    options = page.eval_on_selector_all(".quality option", "os => os.map(o => o.value)")
    assert options == ["auto", *[str(h) for h in sorted(heights, reverse=True)]]
    expect(page.locator(".subtitles option")).to_have_text(["Off", "English"])
    page.select_option(".subtitles", label="English")
    page.wait_for_function("reelflow.player.getTextTracks().some(t => t.active)")

    # Keyboard: m toggles mute, space pauses and plays.
    page.keyboard.press("m")
    assert video_state(page)["muted"] is False
    page.keyboard.press("m")
    assert video_state(page)["muted"] is True
    page.keyboard.press(" ")
    assert video_state(page)["paused"] is True
    expect(page.locator(".controls .play")).to_have_attribute("aria-label", "Play")
    paused_at = video_state(page)["t"]
    page.keyboard.press("ArrowRight")
    assert video_state(page)["t"] == pytest.approx(paused_at + 5, abs=0.01)
    page.keyboard.press("ArrowLeft")
    assert video_state(page)["t"] == pytest.approx(paused_at, abs=0.01)
    page.keyboard.press("f")
    page.wait_for_function("document.fullscreenElement?.classList.contains('stage')")
    page.keyboard.press("f")
    page.wait_for_function("document.fullscreenElement === null")
    page.keyboard.press(" ")
    wait_playing(page, 0)
    page.locator(".stage").hover()
    shot = tmp_path / "playing.png"
    page.screenshot(path=shot)
    assert shot.stat().st_size > 10_000


def test_basic_plan_never_gets_above_sd_or_the_hd_key(
    web_stack: WebStack, page: Page, netlog: NetLog
) -> None:
    sign_in(page, web_stack, f"cy-{uuid.uuid4().hex[:6]}", plan="basic")
    open_title_and_play(page, web_stack)
    wait_playing(page, 0.5)
    # The basic plan is SD: at most 768x576 pixels (issue 25), so of the 16:9 ladder 768x432
    # is its largest picture; 960x540 has 518,400 pixels, HD, with the HD key.
    heights = page.evaluate("reelflow.player.getVariantTracks().map(t => t.height)")
    assert max(heights) == 432, heights
    options = page.eval_on_selector_all(".quality option", "os => os.map(o => o.value)")
    assert options[0] == "auto" and max(int(o) for o in options[1:]) == 432

    mpd = netlog.dash_mpd()
    assert max(int(h) for h in re.findall(r'height="(\d+)"', mpd)) == 432

    # Pick 432p by hand: it plays, and still no HD key was ever handed out.
    page.select_option(".quality", "432")
    page.wait_for_function("document.querySelector('.stage video').videoHeight === 432")
    wait_playing(page, 2.0)
    kids = web_stack.kids(MAIN_TITLE)
    licensed = licensed_kids(netlog)
    assert licensed, "no license answer seen"
    assert kids["HD"] not in licensed
    assert licensed <= {kids["SD"], kids["AUDIO"]}


def test_seek_bar_preview_shows_a_sprite_tile(
    web_stack: WebStack, page: Page, netlog: NetLog, tmp_path: Path
) -> None:
    sign_in(page, web_stack, f"eve-{uuid.uuid4().hex[:6]}")
    open_title_and_play(page, web_stack)
    wait_playing(page, 0.5)
    page.wait_for_function("document.querySelector('.seek-bar').max > 0")
    vtt = next(r for r in netlog.responses if r.url.split("?")[0].endswith(".vtt"))
    assert vtt.status == 200 and "xywh=" in vtt.text()

    bar = page.locator(".seek-bar").bounding_box()
    assert bar is not None
    page.mouse.move(bar["x"] + bar["width"] * 0.5, bar["y"] + bar["height"] / 2)
    expect(page.locator(".preview")).to_be_visible()
    tile = page.evaluate(
        """() => { const el = document.querySelector('.preview-image');
                   const s = getComputedStyle(el);
                   return {image: s.backgroundImage, position: s.backgroundPosition,
                           w: el.offsetWidth, h: el.offsetHeight,
                           time: document.querySelector('.preview-time').textContent}; }"""
    )
    assert "/media/" in tile["image"] and ".jpg" in tile["image"], tile
    assert tile["w"] > 50 and tile["h"] > 20, tile
    # The tile is the one the WebVTT names for the middle of the title.
    middle = page.evaluate("document.querySelector('.seek-bar').max / 2")
    cue = next(c for c in parse_vtt(vtt.text()) if c.start <= middle < c.end)
    offsets = [-float(v.removesuffix("px")) for v in tile["position"].split()]
    assert offsets == [cue.x, cue.y], (tile, cue)
    assert (tile["w"], tile["h"]) == (cue.w, cue.h)
    sprite = [r for r in netlog.responses if cue.file in r.url]
    assert sprite and sprite[0].status == 200
    assert sprite[0].headers["content-type"] == "image/jpeg"
    page.locator(".stage").screenshot(path=tmp_path / "preview.png")


@dataclass(frozen=True)
class Tile:
    start: float
    end: float
    file: str
    x: int
    y: int
    w: int
    h: int


def _seconds(stamp: str) -> float:
    return sum(float(part) * 60**i for i, part in enumerate(reversed(stamp.split(":"))))


def parse_vtt(text: str) -> list[Tile]:
    return [
        Tile(_seconds(m[1]), _seconds(m[2]), m[3], *(int(v) for v in m.group(4, 5, 6, 7)))
        for m in THUMB_CUE.finditer(text)
    ]


def test_reload_resumes_near_the_last_heartbeat_and_continue_watching(
    web_stack: WebStack, page: Page, tmp_path: Path
) -> None:
    sign_in(page, web_stack, f"fay-{uuid.uuid4().hex[:6]}")
    open_title_and_play(page, web_stack)
    wait_playing(page, 6.5)
    with page.expect_request(lambda r: r.url.endswith("/heartbeat") and r.method == "PUT") as hb:
        page.keyboard.press(" ")  # pause: the player sends a heartbeat at once
    heartbeat = hb.value
    position = json.loads(heartbeat.post_data or "{}")["position"]
    assert 6.5 <= position < 12, position
    response = heartbeat.response()
    assert response is not None and response.status == 200

    page.reload()
    page.wait_for_function("window.reelflow && window.reelflow.startupMs !== null")
    resumed = page.evaluate("reelflow.session.resume_position_s")
    assert resumed == pytest.approx(position, abs=0.01)
    now = video_state(page)["t"]
    assert position - 0.5 <= now <= position + 3, (position, now)

    page.evaluate("location.hash = '#/'")
    row = page.locator("[data-row='Continue watching']")
    expect(row.locator(f"a[data-title-id='{MAIN_TITLE}']")).to_be_visible()
    expect(row.locator(f"a[data-title-id='{MAIN_TITLE}']")).to_have_attribute(
        "aria-label", re.compile(rf"{MAIN_NAME}, resume at 0:0[6-9]")
    )
    page.screenshot(path=tmp_path / "continue-watching.png")


@pytest.mark.parametrize(
    ("title_id", "plan", "slug", "text"),
    [
        (GEO_TITLE, "premium", "geo_blocked", "isn't available in US"),
        (PREMIUM_TITLE, "basic", "plan_insufficient", "Upgrade to watch it"),
        (FUTURE_TITLE, "premium", "outside_window", "availability window"),
    ],
)
def test_refusals_show_their_message(
    web_stack: WebStack,
    page: Page,
    tmp_path: Path,
    title_id: str,
    plan: Plan,
    slug: str,
    text: str,
) -> None:
    sign_in(page, web_stack, f"gus-{uuid.uuid4().hex[:6]}", plan=plan)
    page.goto(f"{web_stack.url}/#/watch/{title_id}")
    message = page.locator(f".message[data-problem='{slug}']")
    expect(message).to_be_visible()
    expect(message).to_contain_text(text)
    expect(message.locator("a, button")).to_be_focused()
    page.screenshot(path=tmp_path / f"{slug}.png")


def test_too_many_streams_then_play_once_the_other_stream_ends(
    web_stack: WebStack, page: Page
) -> None:
    sub = f"hal-{uuid.uuid4().hex[:6]}"
    token = web_stack.token(sub, plan="basic")
    other = web_stack.api(
        "POST", f"/v1/titles/{MAIN_TITLE}/playback", token, json={"device_id": "living-room-tv"}
    )
    assert other.status_code == 201, other.text
    sign_in(page, web_stack, sub, plan="basic")
    page.goto(f"{web_stack.url}/#/watch/{MAIN_TITLE}")
    message = page.locator(".message[data-problem='too_many_streams']")
    expect(message).to_be_visible()
    expect(message).to_contain_text("allows 1 stream at once")

    ended = web_stack.api("DELETE", f"/v1/sessions/{other.json()['session_id']}", token)
    assert ended.status_code == 204
    message.get_by_role("button", name="Try again").click()
    wait_playing(page, 0.5)


def test_hls_with_identity_keys_from_the_api_plays_too(
    web_stack: WebStack, browser: BrowserContext, page: Page, netlog: NetLog
) -> None:
    browser.add_init_script("localStorage.setItem('reelflow.protocol', 'hls')")
    sign_in(page, web_stack, f"ivy-{uuid.uuid4().hex[:6]}")
    open_title_and_play(page, web_stack)
    wait_playing(page, 1.0)
    assert page.evaluate("reelflow.player.getManifestType()") == "HLS"
    assert netlog.urls("/master.m3u8") and not netlog.urls("/manifest.mpd")
    keys = netlog.answered("/v1/license/hls-key/")
    assert keys and all(r.status == 200 for r in keys)
    assert all(r.request.headers.get("authorization", "").startswith("Bearer ") for r in keys)
    assert not netlog.urls("/v1/license/clearkey")
    # No MPD rendered for a player that plays HLS.
    [start] = [r for r in netlog.responses if r.url.endswith("/playback") and r.status == 201]
    assert start.json()["dash_mpd"] is None
    # The start carried an Idempotency-Key, so it may be retried (the edge, the player).
    assert len(start.request.headers.get("idempotency-key", "")) == 32


def test_a_pasted_token_signs_in_for_this_tab_only(
    web_stack: WebStack, browser: BrowserContext, page: Page
) -> None:
    token = web_stack.token(f"jo-{uuid.uuid4().hex[:6]}", plan="standard", country="GB")
    page.goto(web_stack.url + "/")
    page.fill("#signin-token", token)
    page.click("#token-signin button[type=submit]")
    expect(page.locator("#account-label")).to_contain_text("(standard · GB)")
    page.wait_for_selector("[data-row='New']")
    assert page.evaluate("sessionStorage.getItem('reelflow.auth')") is not None
    assert page.evaluate("localStorage.getItem('reelflow.auth')") is None
    other_tab = browser.new_page()
    other_tab.goto(web_stack.url + "/")
    expect(other_tab.locator("#dev-signin")).to_be_visible()  # signed out there
