"""The admin console (/admin) in Debian's Chromium against the real stack (see conftest.py).

QoE beacons go in through POST /v1/qoe on real playback sessions (with phone, tablet and
desktop User-Agents) into the viewer event log, and a real events writer turns them into the
Parquet files the console's QoE view reads; the title is the one the conftest published
through the real lifecycle.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import redis
from playwright.sync_api import Page, expect

from reelflow.events.log import RedisStreamLog
from reelflow.events.metrics import WriterMetrics
from reelflow.events.writer import EventWriter
from reelflow.playback_api.auth.auth import Plan
from reelflow.storage import store_from_settings
from tests.services import free_port
from tests.web.conftest import MAIN_NAME, MAIN_TITLE, WebStack

pytestmark = pytest.mark.slow

DOCS_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
PHONE_UA = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Mobile Safari/537.36"
TABLET_UA = "Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Safari/604.1"
DESKTOP_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120 Safari/537.36"


def _size(page: Page, selector: str) -> list[tuple[float, float]]:
    sizes: list[list[float]] = page.eval_on_selector_all(
        selector, "els => els.map(e => { const r = e.getBoundingClientRect(); "
        "return [r.width, r.height]; })",
    )  # fmt: skip
    return [(w, h) for w, h in sizes]


def _keep(path: Path, name: str) -> None:
    # A test run must leave the checkout clean: the docs' pictures refresh only on request.
    if os.environ.get("REELFLOW_UPDATE_DOC_IMAGES") != "1":
        return
    DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, DOCS_IMAGES / name)


def console_url(stack: WebStack, sub: str = "ops") -> str:
    """What an operator runs: `reelflow dev token --admin --console-url` against the stack's
    home (the dev endpoint refuses admin tokens, so the CLI is the only way to one)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("REELFLOW_")}
    env["REELFLOW_HOME"] = str(stack.settings.home)
    env["REELFLOW_API_PORT"] = str(stack.settings.api_port)
    reelflow = Path(sys.executable).with_name("reelflow")
    done = subprocess.run(
        [str(reelflow), "dev", "token", "--admin", "--console-url", "--sub", sub],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def admin_sign_in(page: Page, stack: WebStack, sub: str = "ops") -> None:
    url = console_url(stack, sub)
    assert url.startswith(stack.url + "/admin#token="), url
    page.goto(url)
    expect(page.locator("#account-label")).to_have_text(sub)
    # The token is out of the address bar (and so of the history) once the page kept it.
    page.wait_for_function("() => location.hash === '#/qoe'", timeout=10_000)
    assert "token" not in page.url


@dataclass(frozen=True)
class Seeded:
    sessions: dict[str, str]  # phone, tablet, desktop -> session id
    writer_metrics: str  # the events writer's /metrics once it wrote the beacons


def write_events(stack: WebStack) -> str:
    """What `reelflow events writer` does in the stack, its /metrics served as it serves
    them: the event log into the stack's store; returns the metrics once all is written."""
    metrics, port = WriterMetrics(), free_port()
    server = metrics.serve(f"127.0.0.1:{port}")
    client = redis.Redis.from_url(stack.settings.redis_url)
    try:
        log = RedisStreamLog(client)
        store = store_from_settings(stack.settings)
        writer = EventWriter(log, store, "web-tests", block_ms=10, on_written=metrics.observe)
        for _ in range(100):  # bounded: a few batches at most
            if writer.step() == 0:
                break
        assert log.backlog() == 0
        return httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    finally:
        client.close()
        server.shutdown()


@pytest.fixture(scope="module")
def seeded(web_stack: WebStack) -> Seeded:
    """Three sessions' beacons through the real API and a real events writer: a slow start
    with errors on a basic phone, a rebuffering standard tablet, a quick premium desktop."""
    sessions: dict[str, str] = {}
    plans: tuple[tuple[str, Plan, str, str, float, float, list[str]], ...] = (
        ("phone", "basic", "BR", PHONE_UA, 2400.0, 0.0, ["shaka:1001", "shaka:3016"]),
        ("tablet", "standard", "GB", TABLET_UA, 800.0, 1500.0, []),
        ("desktop", "premium", "US", DESKTOP_UA, 180.0, 0.0, []),
    )
    for name, plan, country, ua, startup, rebuffer, errors in plans:
        token = web_stack.token(f"qoe-{name}-{uuid.uuid4().hex[:6]}", plan=plan, country=country)
        started = web_stack.api(
            "POST", f"/v1/titles/{MAIN_TITLE}/playback", token, json={"device_id": name}
        )
        assert started.status_code == 201, started.text
        sid = started.json()["session_id"]
        sessions[name] = sid
        for body in (
            {"startup_ms": startup, "played_ms": 4000.0, "rebuffer_ms": rebuffer},
            {"played_ms": 10000.0, "rebuffer_count": 1 if rebuffer else 0, "errors": errors},
        ):
            sent = httpx.post(
                web_stack.url + "/v1/qoe",
                json={"session_id": sid, "title_id": MAIN_TITLE, **body},
                headers={"Authorization": f"Bearer {token}", "User-Agent": ua},
                timeout=10,
            )
            assert sent.status_code == 202, sent.text
        assert web_stack.api("DELETE", f"/v1/sessions/{sid}", token).status_code == 204
    return Seeded(sessions, write_events(web_stack))


def _admin(stack: WebStack) -> str:
    from reelflow.playback_api.auth.auth import mint_dev_token
    from reelflow.playback_api.auth.auth_config import dev_token_secret

    return mint_dev_token(
        dev_token_secret(stack.secret), sub="ops", plan="premium", country="US", admin=True,
        issuer=stack.settings.auth_issuer, audience=stack.settings.auth_audience,
    )  # fmt: skip


def test_qoe_aggregates_by_each_dimension(web_stack: WebStack, seeded: Seeded) -> None:
    admin = _admin(web_stack)
    expected = {
        "plan": {"basic", "standard", "premium"},
        "country": {"BR", "GB", "US"},
        "device": {"mobile", "tablet", "desktop"},
        "drm": {"clearkey"},
        "title": {MAIN_TITLE},
    }
    for by, groups in expected.items():
        answer = web_stack.api("GET", f"/v1/admin/qoe/timeseries?by={by}&bucket_s=600", admin)
        assert answer.status_code == 200, answer.text
        assert groups <= set(answer.json()["groups"]), (by, answer.json())
    by_plan = web_stack.api("GET", "/v1/admin/qoe/timeseries?by=plan&bucket_s=600", admin).json()
    basic = [p for p in by_plan["points"] if p["group"] == "basic"]
    assert sum(p["failed_sessions"] for p in basic) == 1
    assert any(p["startup_p50_ms"] == 2400.0 for p in basic)
    tablet = web_stack.api("GET", "/v1/admin/qoe/timeseries?by=device&bucket_s=600", admin).json()
    ratios = [p["rebuffer_ratio"] for p in tablet["points"] if p["group"] == "tablet"]
    assert ratios and abs(sum(ratios) - 1500 / (14000 + 1500)) < 1e-9
    slowest = web_stack.api("GET", "/v1/admin/qoe/sessions?order=slowest", admin).json()
    assert slowest[0]["session_id"] == seeded.sessions["phone"]
    assert slowest[0]["device_class"] == "mobile" and slowest[0]["plan"] == "basic"
    failing = web_stack.api("GET", "/v1/admin/qoe/sessions?order=failing", admin).json()
    assert [s["session_id"] for s in failing] == [seeded.sessions["phone"]]
    assert failing[0]["error_count"] == 2
    # Bad input is a clear 422, not a 500: too many buckets for the window.
    too_fine = web_stack.api(
        "GET", "/v1/admin/qoe/timeseries?bucket_s=60&since=2020-01-01T00:00:00Z", admin
    )
    assert too_fine.status_code == 422
    assert "buckets" in too_fine.json()["detail"]
    # The writer's Prometheus histograms got the same beacons (Grafana reads those), labelled
    # by plan, DRM and device only.
    metrics = seeded.writer_metrics
    phone = 'device_class="mobile",drm="clearkey",plan="basic"'
    assert f"reelflow_events_qoe_startup_seconds_count{{{phone}}} 1.0" in metrics
    assert 'reelflow_events_qoe_rebuffer_ratio_count{device_class="tablet"' in metrics


def test_console_sign_in_sends_the_operator_to_the_cli(web_stack: WebStack, page: Page) -> None:
    # Embedded mode: the page says where an admin token comes from; it cannot get one itself.
    page.goto(web_stack.url + "/admin#/signin")
    hint = page.locator("#admin-dev-hint")
    expect(hint).to_be_visible()
    expect(hint).to_contain_text("reelflow dev token --admin --console-url")
    asked = page.evaluate(
        """async () => {
            const r = await fetch('/v1/dev/token', { method: 'POST',
              headers: { 'Content-Type': 'application/json' },
              body: JSON.stringify({ sub: 'ops', admin: true }) });
            return [r.status, (await r.json()).type];
        }"""
    )
    assert asked[0] == 403 and asked[1].endswith("/forbidden"), asked
    expect(page.locator("#account-label")).to_have_text("")


def test_admin_endpoints_refuse_a_viewer_token(web_stack: WebStack, page: Page) -> None:
    viewer = web_stack.token("not-an-admin")
    for path in (
        "/v1/admin/qoe/timeseries",
        "/v1/admin/qoe/sessions?order=slowest",
        f"/v1/admin/titles/{MAIN_TITLE}/overview",
    ):
        answer = web_stack.api("GET", path, viewer)
        assert answer.status_code == 403, (path, answer.text)
        assert answer.json()["type"].endswith("/forbidden")
        assert httpx.get(web_stack.url + path, timeout=10).status_code == 401, path
    page.goto(web_stack.url + "/admin#/signin")
    page.fill("#admin-token", viewer)
    page.click("#admin-paste button[type=submit]")
    refusal = page.locator(".refusal[data-problem='forbidden']")
    expect(refusal).to_be_visible()
    expect(refusal).to_contain_text("not an admin")
    assert page.locator(".chart canvas").count() == 0


def test_qoe_view_plots_the_seeded_beacons(
    web_stack: WebStack, seeded: Seeded, page: Page, tmp_path: Path
) -> None:
    page.set_viewport_size({"width": 1280, "height": 900})
    admin_sign_in(page, web_stack)
    page.goto(web_stack.url + "/admin#/qoe?by=plan&hours=1")
    page.wait_for_selector("#qoe-charts .chart canvas")
    charts = page.locator("#qoe-charts .chart")
    expect(charts).to_have_count(4)
    sizes = _size(page, "#qoe-charts .chart canvas")
    assert len(sizes) >= 4 and all(w > 100 and h > 100 for w, h in sizes), sizes
    legend = page.locator("#qoe-charts .chart").first.locator(".u-legend")
    for plan in ("basic", "standard", "premium"):
        expect(legend).to_contain_text(plan)
    expect(page.locator("#qoe-slowest tbody tr").first).to_contain_text(
        seeded.sessions["phone"][:12]
    )
    expect(page.locator("#qoe-slowest tbody tr").first).to_contain_text("2400 ms")
    expect(page.locator("#qoe-failing tbody tr")).to_have_count(1)
    expect(page.locator("#qoe-titles")).to_contain_text(MAIN_TITLE)
    page.screenshot(path=tmp_path / "admin-qoe.png", full_page=True)
    _keep(tmp_path / "admin-qoe.png", "admin-qoe.png")
    page.select_option("#qoe-by", "device")
    expect(page.locator("#qoe-charts .chart").first.locator(".u-legend")).to_contain_text("mobile")


def test_title_page_draws_lifecycle_qc_ladder_sprites_and_package(
    web_stack: WebStack, page: Page, tmp_path: Path
) -> None:
    page.set_viewport_size({"width": 1280, "height": 900})
    admin_sign_in(page, web_stack)
    page.goto(f"{web_stack.url}/admin#/title/{MAIN_TITLE}")
    expect(page.locator("h1")).to_contain_text(MAIN_NAME)
    page.wait_for_selector("#package-tracks tbody tr")
    # Lifecycle: a bar per event, who did it; the clip passes QC clean, so no approval.
    bars = page.locator("#lifecycle svg rect")
    assert bars.count() >= 4
    expect(page.locator("#lifecycle table")).to_contain_text("workflow")
    expect(page.locator("#approval")).to_have_text(
        "No approval needed: QC passed without warnings."
    )
    expect(page.locator("#lifecycle table")).to_contain_text("published")
    # QC: the report's checks, drawn on the title's timeline (-23 LUFS tone: loudness passes).
    expect(page.locator("#qc-checks")).to_contain_text("loudness")
    expect(page.locator("#qc-timeline")).to_contain_text("LUFS")
    # Ladder: the conftest uses the fixed ladder: chosen rungs and the fixed ladder drawn.
    expect(page.locator("#ladder")).to_contain_text("Method: fixed")
    assert page.locator("#ladder-rungs circle").count() >= 2
    assert page.locator("#ladder-rungs rect").count() >= 2
    # Sprites: at least one sheet loaded from the signed /media/ prefix.
    sprite = page.locator("#sprites img").first
    expect(sprite).to_be_visible()
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=sprite.element_handle()
    )
    assert "/media/" in (sprite.get_attribute("src") or "")
    # Package: tracks and DRM systems.
    expect(page.locator("#package-drm")).to_contain_text("clearkey")
    assert page.locator("#package-tracks tbody tr").count() >= 3
    sizes = _size(page, "#lifecycle svg, #qc-timeline, #ladder-rungs")
    assert len(sizes) == 3 and all(w > 300 and h > 100 for w, h in sizes), sizes
    page.screenshot(path=tmp_path / "admin-title.png", full_page=True)
    _keep(tmp_path / "admin-title.png", "admin-title.png")
