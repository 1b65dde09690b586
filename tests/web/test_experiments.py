"""Experiments end to end on the web stack (conftest.py), in Debian's Chromium: the short
version of the first experiment (docs/experiments.md).

A running experiment with two ABR variants: two viewers of each play the lifecycle-published
title through the real web player, which applies its variant's settings (and only the listed
ones: reelflow/web/experiments.js); a real events writer turns what the API and the player
logged into Parquet, and the results endpoint counts their exposures, sessions and metrics.
The admin console creates, starts and stops a draft, and draws that experiment's results and
a simulated one's 48 hours of intervals (events written as the writer writes them, the
experiment's start and stop moved 76 h back in the catalog so its hours are in the past, and
its QoE beacons older than the QoE view's 24 h that test_admin.py reads).

The experiments target countries no other test's viewer comes from (IS, AQ) and are stopped
at the end of the module, so the other browser tests keep playing without variants.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import update
from sqlmodel import col

from reelflow.catalog.models import Experiment
from reelflow.experiments.assignment import Assigner, Viewer
from reelflow.experiments.definitions import ExperimentIn, checked, spec_of
from reelflow.experiments.player_config import ABR_SETTINGS, ORDERED
from reelflow.playback_api.auth.auth import mint_dev_token
from reelflow.playback_api.auth.auth_config import dev_token_secret
from tests.experiments.simulated import Effect, simulate
from tests.web.conftest import MAIN_TITLE, WebStack
from tests.web.harness import chromium
from tests.web.test_admin import _keep, _size, admin_sign_in, write_events
from tests.web.test_player import wait_playing
from tests.web.test_viewer_events import logged, wait_until

pytestmark = pytest.mark.slow

BASE = "/v1/admin/experiments"
COUNTRY = "IS"  # the live experiment's viewers, and only they
CAUTIOUS = {"defaultBandwidthEstimate": 200_000, "bandwidthUpgradeTarget": 0.5,
            "bandwidthDowngradeTarget": 0.6, "maxHeight": 360, "bufferingGoal": 12}  # fmt: skip
LIVE = {
    "key": "abr-ci",
    "hypothesis": "a cautious ABR starts as fast and stalls less",
    "variants": [{"key": "control", "weight": 0.5, "config": {}},
                 {"key": "cautious", "weight": 0.5, "config": {"abr": CAUTIOUS}}],
    "target": {"countries": [COUNTRY]},
    "primary_metric": "minutes_watched",
    "guardrails": ["startup_p90", "rebuffer_ratio"],
    "mde": 0.1,
}  # fmt: skip
EAGER = {"abr": {"defaultBandwidthEstimate": 20_000_000}}
SIMULATED = {**LIVE, "key": "abr-sim", "target": {"countries": ["AQ"]},
             "variants": [{"key": "control", "weight": 0.5, "config": {}},
                          {"key": "eager", "weight": 0.5, "config": EAGER}]}  # fmt: skip
# What the player reads back from Shaka after its variant's settings went in.
CONFIGURED = """() => { const c = window.reelflow.player.getConfiguration();
  return { upgrade: c.abr.bandwidthUpgradeTarget, downgrade: c.abr.bandwidthDowngradeTarget,
           estimate: c.abr.defaultBandwidthEstimate, maxHeight: c.abr.restrictions.maxHeight,
           bufferingGoal: c.streaming.bufferingGoal, applied: window.reelflow.experiments,
           answer: window.reelflow.session.experiments,
           height: document.querySelector('.stage video').videoHeight }; }"""


def admin_token(stack: WebStack) -> str:
    return mint_dev_token(
        dev_token_secret(stack.secret), sub="ops", plan="premium", country="US", admin=True,
        issuer=stack.settings.auth_issuer, audience=stack.settings.auth_audience,
    )  # fmt: skip


def admin(stack: WebStack, method: str, path: str, **kwargs: Any) -> Any:
    answer = stack.api(method, BASE + path, admin_token(stack), **kwargs)
    assert answer.status_code in (200, 201), answer.text
    return answer.json()


def viewers_by_variant(spec: dict[str, Any], per_variant: int) -> dict[str, list[str]]:
    """Account ids that the experiment's own assignment puts in each variant."""
    assigner = Assigner([spec_of(checked(ExperimentIn.model_validate(spec)))])
    chosen: dict[str, list[str]] = {v["key"]: [] for v in spec["variants"]}
    for _ in range(200):  # bounded: about half of the ids land in each variant
        sub = f"exp-{uuid.uuid4().hex[:8]}"
        got = assigner.assign(Viewer(sub, COUNTRY, "premium", "desktop"))
        variant = got[spec["key"]].variant
        if len(chosen[variant]) < per_variant:
            chosen[variant].append(sub)
        if all(len(v) == per_variant for v in chosen.values()):
            return chosen
    raise AssertionError(f"no {per_variant} viewers per variant in 200 ids")


@dataclass(frozen=True)
class Played:
    variants: dict[str, list[str]]  # variant -> account ids
    seen: dict[str, dict[str, Any]]  # account id -> what the player configured


def play_once(page: Page, stack: WebStack, sub: str) -> dict[str, Any]:
    """One session of ``sub`` through the web player: play past a second, then leave (the
    player sends play_end and its last beacon and ends the session)."""
    auth = {"token": stack.token(sub, country=COUNTRY), "sub": sub, "plan": "premium",
            "country": COUNTRY}  # fmt: skip
    page.add_init_script(
        f"sessionStorage.setItem('reelflow.auth', {json.dumps(json.dumps(auth))});"
        f"localStorage.setItem('reelflow.device', 'dev-{sub}');"
        "localStorage.removeItem('reelflow.lastSession');"
    )
    page.goto(f"{stack.url}/#/title/{MAIN_TITLE}")
    page.click("[data-action=play] >> nth=0")
    wait_playing(page, 1.0)
    seen: dict[str, Any] = page.evaluate(CONFIGURED)
    page.goto(f"{stack.url}/#/")
    page.wait_for_function("window.reelflow.player === null")
    return seen


@pytest.fixture(scope="module")
def played(web_stack: WebStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Played]:
    admin(web_stack, "POST", "", json=LIVE)
    admin(web_stack, "POST", "/abr-ci/start")
    variants = viewers_by_variant(LIVE, per_variant=2)
    seen: dict[str, dict[str, Any]] = {}
    try:
        with chromium(tmp_path_factory.mktemp("experiments") / "profile") as context:
            context.set_default_timeout(30_000)
            for sub in [s for subs in variants.values() for s in subs]:
                page = context.new_page()
                seen[sub] = play_once(page, web_stack, sub)
                page.close()

        def arrived() -> bool:
            for sub in seen:
                types = {e.type for e in logged(web_stack, sub)}
                if not {"exposure", "play_start", "play_end", "qoe"} <= types:
                    return False
            return True

        wait_until(arrived, "every viewer's exposure, play and beacon events in the log", 30)
        write_events(web_stack)
        yield Played(variants, seen)
    finally:
        web_stack.api("POST", f"{BASE}/abr-ci/stop", admin_token(web_stack))


def test_each_variant_plays_with_its_abr_settings_and_control_as_today(played: Played) -> None:
    for sub in played.variants["cautious"]:
        seen = played.seen[sub]
        assert seen["answer"] == {"abr-ci": {"variant": "cautious", "config": {"abr": CAUTIOUS}}}
        assert seen["applied"] == [
            {"experiment": "abr-ci", "variant": "cautious", "settings": CAUTIOUS}
        ]
        assert (seen["upgrade"], seen["downgrade"]) == (0.5, 0.6)
        assert (seen["estimate"], seen["maxHeight"], seen["bufferingGoal"]) == (200_000, 360, 12)
        assert 0 < seen["height"] <= 360  # the restriction held on the rung it played
    for sub in played.variants["control"]:
        seen = played.seen[sub]
        assert seen["answer"] == {"abr-ci": {"variant": "control", "config": {}}}
        assert seen["applied"] == []  # nothing to apply: the player as without experiments
        assert (seen["upgrade"], seen["downgrade"], seen["bufferingGoal"]) == (0.85, 0.95, 10)
        assert seen["estimate"] != 200_000  # abr.js's own start estimate


def test_results_count_the_exposures_sessions_and_metrics(
    web_stack: WebStack, played: Played
) -> None:
    report = admin(web_stack, "GET", "/abr-ci/results")
    counts = [(v["key"], v["viewers"], v["sessions"]) for v in report["variants"]]
    assert counts == [("control", 2, 2), ("cautious", 2, 2)]
    assert report["left_out"] == {"multiple_variants": 0, "unknown_variant": 0}
    assert report["results"]["srm"]["mismatch"] is False
    rows = {m["metric"]: m for m in report["results"]["metrics"]}
    assert set(rows) == {"play_starts", "minutes_watched", "sessions", "startup_p50",
                         "startup_p90", "rebuffer_ratio", "playback_failures",
                         "exits_before_start"}  # fmt: skip
    assert rows["minutes_watched"]["role"] == "primary"
    assert {rows[g]["role"] for g in ("startup_p90", "rebuffer_ratio")} == {"guardrail"}
    for name in ("play_starts", "sessions"):  # one session, one first frame each
        assert (rows[name]["control_value"], rows[name]["value"]) == (1.0, 1.0), rows[name]
    for name in ("playback_failures", "exits_before_start"):
        assert (rows[name]["control_value"], rows[name]["value"]) == (0.0, 0.0), rows[name]
    for name in ("minutes_watched", "startup_p50"):  # from the players' beacons
        assert rows[name]["control_value"] > 0 and rows[name]["value"] > 0, rows[name]
    assert all(m["units"] == 2 for m in rows.values()), rows
    [decision] = report["results"]["decisions"]
    assert decision["variant"] == "cautious"
    series = admin(web_stack, "GET", "/abr-ci/results/timeseries")
    assert series["points"][-1]["viewers"] == [2, 2]


def test_the_player_and_the_api_share_one_list_and_the_player_ignores_the_rest(
    web_stack: WebStack, page: Page
) -> None:
    page.goto(web_stack.url + "/")
    module = "import('/experiments.js')"
    listed = page.evaluate(
        f"async () => {{ const m = await {module}; "
        "return [m.ABR_SETTINGS, m.ORDERED.map((p) => p.slice(0, 2))]; }"
    )
    assert listed[0] == {n: [r.path, r.low, r.high] for n, r in ABR_SETTINGS.items()}
    assert listed[1] == [[low, high] for low, high, _, _ in ORDERED]
    experiments = {
        "b-test": {"variant": "x", "config": {"abr": {
            "enabled": False, "maxHeight": 99999, "switchInterval": "4", "bufferingGoal": 20,
            "constructor": 1, "toString": 2,
            "bandwidthUpgradeTarget": 0.97}}},  # above the default downgrade target: both out
        "a-test": {"variant": "y", "config": {"abr": {"bufferingGoal": 30, "fastHalfLife": 1}}},
        "c-test": {"variant": "z", "config": {"abr": [1]}},
        "d-test": {"variant": "w", "config": {"model": "als"}},
    }  # fmt: skip
    got = page.evaluate(f"async (e) => (await {module}).experimentConfig(e)", experiments)
    assert got["config"] == {"streaming": {"bufferingGoal": 30},
                             "abr": {"advanced": {"fastHalfLife": 1}}}  # fmt: skip
    assert sorted(got["ignored"]) == sorted([
        "b-test.enabled", "b-test.maxHeight", "b-test.switchInterval",
        "b-test.bandwidthUpgradeTarget", "b-test.bufferingGoal", "b-test.constructor",
        "b-test.toString", "c-test.abr"])  # fmt: skip
    assert [a["experiment"] for a in got["applied"]] == ["a-test", "b-test"]
    none = page.evaluate(f"async () => (await {module}).experimentConfig({{}})")
    assert none == {"config": None, "applied": [], "ignored": []}


def test_the_console_creates_starts_and_stops_a_draft(web_stack: WebStack, page: Page) -> None:
    page.on("dialog", lambda dialog: dialog.accept())  # "Stop ...?": yes
    admin_sign_in(page, web_stack)
    page.click("#admin-nav a[href='#/experiments']")
    expect(page.locator("h1")).to_have_text("Experiments")
    spec = {**LIVE, "key": f"console-{uuid.uuid4().hex[:6]}", "target": {"countries": ["AQ"]}}
    bad = json.loads(json.dumps(spec))
    bad["variants"][1]["config"] = {"abr": {"enabled": False}}
    page.fill("#experiment-spec", json.dumps(bad))
    page.click("#experiment-create button[type=submit]")
    status = page.locator("#experiment-create-status")
    expect(status).to_have_text(
        re.compile(r"^variants\.config\.abr: variant cautious: unknown setting 'enabled'; known")
    )
    page.fill("#experiment-spec", json.dumps(spec))
    page.click("#experiment-create button[type=submit]")
    expect(page.locator("h1")).to_contain_text(f"Experiment {spec['key']}")
    expect(page.locator("h1 .badge")).to_have_text("draft")
    expect(page.locator("#experiment-no-results")).to_be_visible()
    page.click("#experiment-start")
    expect(page.locator("h1 .badge")).to_have_text("running")
    expect(page.locator("#experiment-counts")).to_contain_text("control")
    page.click("#experiment-stop")
    expect(page.locator("h1 .badge")).to_have_text("stopped")
    expect(page.locator("#experiment-audit tbody tr")).to_have_count(3)
    trail = admin(web_stack, "GET", f"/{spec['key']}")["audit"]
    assert [(a["action"], a["actor"]) for a in trail] == [
        ("create", "ops"), ("start", "ops"), ("stop", "ops")]  # fmt: skip
    page.goto(f"{web_stack.url}/admin#/experiments")
    expect(page.locator(f"#experiments tr[data-key='{spec['key']}']")).to_contain_text("stopped")


@pytest.fixture(scope="module")
def simulated(web_stack: WebStack) -> str:
    """abr-sim: 2,000 simulated viewers over 48 hours that ended 28 h ago, the eager variant
    starting 1.4 times slower: events in the stack's store, start and stop moved back."""
    admin(web_stack, "POST", "", json=SIMULATED)
    admin(web_stack, "POST", "/abr-sim/start")
    admin(web_stack, "POST", "/abr-sim/stop")
    start = (datetime.now(UTC) - timedelta(hours=76)).replace(minute=0, second=0, microsecond=0)
    with web_stack.engine.begin() as conn:
        conn.execute(update(Experiment).where(col(Experiment.key) == "abr-sim")
                     .values(started_at=start, stopped_at=start + timedelta(hours=48)))  # fmt: skip
    simulate(web_stack.settings.resolved_store_root, key="abr-sim", start=start, hours=48,
             viewers=2000, effects={"control": Effect(), "eager": Effect(startup=1.4)},
             seed=24)  # fmt: skip
    return "abr-sim"


def test_the_console_draws_results_and_intervals_over_time(
    web_stack: WebStack, played: Played, simulated: str, page: Page, tmp_path: Path
) -> None:
    page.set_viewport_size({"width": 1280, "height": 900})
    admin_sign_in(page, web_stack)
    page.goto(f"{web_stack.url}/admin#/experiments/abr-ci")
    page.wait_for_selector("#experiment-charts .chart canvas")
    expect(page.locator("#experiment-counts tbody tr")).to_have_count(2)
    expect(page.locator("#experiment-counts")).to_contain_text("cautious")
    expect(page.locator("#experiment-metrics tbody tr")).to_have_count(8)
    expect(page.locator("#experiment-charts .chart")).to_have_count(8)
    expect(page.locator("#experiment-charts .chart.guardrail")).to_have_count(2)
    expect(page.locator("#experiment-srm")).to_contain_text("no mismatch")

    page.goto(f"{web_stack.url}/admin#/experiments/{simulated}")
    page.wait_for_selector("#experiment-charts .chart canvas")
    expect(page.locator("h1 .badge")).to_have_text("stopped")
    expect(page.locator("#experiment-decisions li")).to_have_text(
        "eager: stop: guardrail hurt (startup_p90)"
    )
    p90 = page.locator("#experiment-charts .chart[data-metric=startup_p90]")
    expect(p90).to_have_class("chart guardrail")
    expect(p90.locator(".chart-note")).to_contain_text("now: worse")
    # units from the answer's metric definitions: seconds for start-up, % for a ratio
    p90_row = page.locator("#experiment-metrics tbody tr", has_text="startup_p90")
    expect(p90_row.locator("td").nth(4)).to_contain_text(" s")
    ratio_row = page.locator("#experiment-metrics tbody tr", has_text="rebuffer_ratio")
    expect(ratio_row.locator("td").nth(4)).to_contain_text(" %")
    # Every hour of the 48 drawn once there were viewers to compare (the first hours have
    # too few for a lift).
    lifts = int(p90.get_attribute("data-points") or 0)
    assert 40 <= lifts <= 48, lifts
    assert page.locator("#experiment-charts .chart").first.get_attribute("data-role") == "primary"
    sizes = _size(page, "#experiment-charts .chart canvas")
    assert len(sizes) == 8 and all(w > 100 and h > 100 for w, h in sizes), sizes
    page.screenshot(path=tmp_path / "admin-experiment.png", full_page=True)
    _keep(tmp_path / "admin-experiment.png", "admin-experiment.png")
