"""Where the web player's ABR starts (reelflow/web/abr.js), in Chromium against the real
stack: half the browser's downlink on a first visit, half the smaller of the downlink and
the account+device's bandwidth hint on the next; its beacons carry what it measured."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from playwright.sync_api import Page

from tests.web.conftest import MAIN_TITLE, NetLog, WebStack
from tests.web.test_player import wait_playing

pytestmark = pytest.mark.slow

START_SHARE = 0.5  # abr.js


def _open(page: Page, stack: WebStack, sub: str, device: str) -> None:
    auth = {"token": stack.token(sub), "sub": sub, "plan": "premium", "country": "US"}
    page.add_init_script(
        f"sessionStorage.setItem('reelflow.auth', {json.dumps(json.dumps(auth))});"
        f"localStorage.setItem('reelflow.device', {json.dumps(device)});"
    )
    page.goto(f"{stack.url}/#/title/{MAIN_TITLE}")
    page.click("[data-action=play] >> nth=0")
    wait_playing(page)


def _start_estimate(page: Page) -> float:
    return float(
        page.evaluate("window.reelflow.player.getConfiguration().abr.defaultBandwidthEstimate")
    )


def _downlink_bps(page: Page) -> float | None:
    value = page.evaluate("navigator.connection ? navigator.connection.downlink : null")
    return float(value) * 1e6 if value else None


def _starts(netlog: NetLog) -> list[dict[str, Any]]:
    return [
        r.json() for r in netlog.answered(f"/v1/titles/{MAIN_TITLE}/playback") if r.status == 201
    ]


def test_abr_starts_from_half_the_downlink_then_from_the_hint(
    web_stack: WebStack, page: Page, netlog: NetLog
) -> None:
    sub, device = f"abr-{uuid.uuid4().hex[:6]}", f"dev-{uuid.uuid4().hex[:6]}"
    _open(page, web_stack, sub, device)
    [first] = _starts(netlog)
    assert first["bandwidth_hint_kbps"] is None
    downlink = _downlink_bps(page)
    expected = (downlink if downlink else 1e6) * START_SHARE
    assert _start_estimate(page) == pytest.approx(expected, abs=1)
    # Network-change events count again once the first frame is up.
    assert (
        page.evaluate("window.reelflow.player.getConfiguration().abr.useNetworkInformation") is True
    )

    # A beacon (at the first frame, each heartbeat, the end) carries what Shaka measured
    # once it has measured something, never the start guess.
    measured = None
    for _ in range(60):  # up to 30 s: the first heartbeat comes 10 s in
        sent = [
            json.loads(r.post_data or "{}") for r in netlog.requests if r.url.endswith("/v1/qoe")
        ]
        measured = next((b["bandwidth_kbps"] for b in sent if "bandwidth_kbps" in b), None)
        if measured is not None:
            break
        page.wait_for_timeout(500)
    assert isinstance(measured, int) and measured > 0
    assert measured * 1000 != pytest.approx(expected, abs=1000)

    page.goto(f"{web_stack.url}/#/")
    page.wait_for_function("window.reelflow.player === null")  # its session ended

    # Another session of this account on this device reports a known figure: the next
    # visit starts from it.
    token = web_stack.token(sub)
    other = web_stack.api(
        "POST", f"/v1/titles/{MAIN_TITLE}/playback", token, json={"device_id": device}
    )
    assert other.status_code == 201, other.text
    sid = other.json()["session_id"]
    beacon = {"session_id": sid, "title_id": MAIN_TITLE, "bandwidth_kbps": 640}
    assert web_stack.api("POST", "/v1/qoe", token, json=beacon).status_code == 202
    assert web_stack.api("DELETE", f"/v1/sessions/{sid}", token).status_code == 204

    page.goto(f"{web_stack.url}/#/title/{MAIN_TITLE}")
    page.click("[data-action=play] >> nth=0")
    wait_playing(page)
    second = _starts(netlog)[-1]
    assert second["session_id"] != first["session_id"]
    assert second["bandwidth_hint_kbps"] == 640
    expected = min(640_000, downlink or float("inf")) * START_SHARE
    assert _start_estimate(page) == pytest.approx(expected, abs=1)


def test_another_account_on_the_same_device_name_gets_no_hint(
    web_stack: WebStack, page: Page, netlog: NetLog
) -> None:
    device = f"dev-{uuid.uuid4().hex[:6]}"
    owner = f"abr-owner-{uuid.uuid4().hex[:6]}"
    start = web_stack.api(
        "POST", f"/v1/titles/{MAIN_TITLE}/playback", web_stack.token(owner),
        json={"device_id": device},
    )  # fmt: skip
    assert start.status_code == 201, start.text
    sid = start.json()["session_id"]
    beacon = {"session_id": sid, "title_id": MAIN_TITLE, "bandwidth_kbps": 300}
    assert web_stack.api("POST", "/v1/qoe", web_stack.token(owner), json=beacon).status_code == 202

    _open(page, web_stack, f"abr-other-{uuid.uuid4().hex[:6]}", device)
    [answer] = _starts(netlog)
    assert answer["bandwidth_hint_kbps"] is None
    downlink = _downlink_bps(page)
    assert _start_estimate(page) == pytest.approx((downlink or 1e6) * START_SHARE, abs=1)
