"""Where the web player's ABR starts (reelflow/web/abr.js), in Chromium against the real
stack: a share of the browser's downlink on a first visit, of the smaller of the downlink
and the account+device's bandwidth hint on the next, the share set by the package's segment
duration (the first segment arrives in about half a second); adaptation held until the
first frame; its beacons carry what it measured."""

from __future__ import annotations

import json
import uuid
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from playwright.sync_api import Page

from tests.web.conftest import MAIN_TITLE, NetLog, WebStack
from tests.web.test_player import wait_playing

pytestmark = pytest.mark.slow

FIRST_SEGMENT_S, MAX_SHARE = 0.5, 0.5  # abr.js


def _start_share(netlog: NetLog) -> float:
    """The share abr.js should start from, read from the MPD the player loaded (its own
    parse of the first video SegmentTemplate, independent of the player's)."""
    root = ET.fromstring(netlog.dash_mpd())
    ns = {"m": "urn:mpeg:dash:schema:mpd:2011"}
    for aset in root.iterfind(".//m:AdaptationSet", ns):
        if aset.get("contentType") != "video":
            continue
        template = aset.find(".//m:SegmentTemplate", ns)
        assert template is not None
        entry = template.find(".//m:S", ns)
        units = float(entry.get("d") if entry is not None else template.get("duration") or 0)
        seconds = units / float(template.get("timescale") or 1)
        assert seconds > 0
        return min(MAX_SHARE, FIRST_SEGMENT_S / seconds)
    raise AssertionError("no video adaptation set in the MPD")


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
    share = _start_share(netlog)
    assert share < MAX_SHARE  # 6 s segments: a lower start than half the link
    expected = (downlink if downlink else 1e6) * share
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
    expected = min(640_000, downlink or float("inf")) * share
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
    assert _start_estimate(page) == pytest.approx((downlink or 1e6) * _start_share(netlog), abs=1)


# Capture phase on the document runs before the player's own `playing` listener on the
# video element: what ABR was set to up to the first frame.
ABR_AT_FIRST_FRAME = """
document.addEventListener('playing', () => {
  if ('abrAtFirstFrame' in window) return;
  const p = window.reelflow && window.reelflow.player;
  window.abrAtFirstFrame = p ? p.getConfiguration().abr.enabled : null;
  window.initsAtFirstFrame = performance.getEntriesByType('resource').map((e) => e.name)
    .filter((n) => n.includes('/init.mp4'));
}, true);
"""


def test_adaptation_waits_for_the_first_frame_then_runs(
    web_stack: WebStack, page: Page, netlog: NetLog
) -> None:
    page.add_init_script(ABR_AT_FIRST_FRAME)
    _open(page, web_stack, f"abr-hold-{uuid.uuid4().hex[:6]}", f"dev-{uuid.uuid4().hex[:6]}")
    assert page.evaluate("window.abrAtFirstFrame") is False
    page.wait_for_function("window.reelflow.player.getConfiguration().abr.enabled === true")
    # Up to the first frame the player fetched the init segment of one video rung only
    # (packaged folders: <rung>/init.mp4 for video, audio_<lang>_<ch>/init.mp4 for audio).
    inits = [u.split("?")[0] for u in page.evaluate("window.initsAtFirstFrame")]
    video = {u.rsplit("/", 2)[-2] for u in inits if "/audio_" not in u}
    assert len(video) == 1, inits


# One 292 kb/s segment of 6 s (about 219 kB) on a 1.6 Mb/s link with a 300 ms round trip,
# as the fetch plugin reports it: a first progress event timed from the request (round trip
# plus 100 ms of bytes), then one every 100 ms.
SAMPLES_3G = """async () => {
  const { latencyAwareAbrFactory } = await import('/abr.js');
  const config = window.reelflow.player.getConfiguration().abr;
  const feed = (abr) => {
    abr.configure(config);
    const request = { timeToFirstByte: 300, packetNumber: 0 };
    const bytes = 20000; // 100 ms at 1.6 Mb/s
    for (let packet = 1; packet <= 11; packet++) {
      request.packetNumber = packet;
      abr.segmentDownloaded(packet === 1 ? 400 : 100, bytes, false, request, {});
    }
    return abr.getBandwidthEstimate();
  };
  const inUse = window.reelflow.player.getConfiguration().abrFactory();
  return {
    inUse: inUse.constructor.name,
    latencyAware: feed(latencyAwareAbrFactory()()),
    shaka: feed(new window.shaka.abr.SimpleAbrManager()),
  };
}"""


def test_abr_times_samples_from_the_first_byte(
    web_stack: WebStack, page: Page, netlog: NetLog
) -> None:
    """The round trip before a segment's first byte is latency, not throughput: the player's
    ABR measures the link's rate where Shaka's own reads a fraction of it (bench/qoe.py 3g)."""
    _open(page, web_stack, f"abr-ttfb-{uuid.uuid4().hex[:6]}", f"dev-{uuid.uuid4().hex[:6]}")
    got = page.evaluate(SAMPLES_3G)
    assert got["inUse"] == "LatencyAwareAbrManager"
    assert got["latencyAware"] == pytest.approx(1.6e6, rel=0.02)
    assert got["shaka"] < 0.9 * 1.6e6  # what the round trip costs Shaka's estimate
