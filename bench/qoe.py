"""QoE under shaped networks: the reelflow web player via the API beside bare Shaka.

A 60 s title (two video rungs, 360p 300 kb/s and 720p 700 kb/s, ClearKey) is published
with the real packager; each profile plays it in Debian's Chromium (launched as the web
tests launch it, a fresh profile per run) with Chrome DevTools'
``Network.emulateNetworkConditions``:

- 4g: ~9 Mb/s down, 85 ms latency;
- 3g: ~1.6 Mb/s down, 300 ms latency;
- drop: 6 Mb/s, then 0.7 Mb/s, then 6 Mb/s again (a third of the play time each), 85 ms.

reelflow: the web player served by ``reelflow api`` (its own process), from the title
page's Play; its metrics are the totals of the QoE beacons it sent (``POST /v1/qoe``:
startup, rebuffer count and time, played time, quality switches, errors) and Shaka's
``getStats()`` at the end. Bare: the same package files from ``python -m http.server`` with
the keys inline, Shaka's ``getStats()`` only (startup timed from the click to the first
``playing``, as bench/startup.py does).

    .venv/bin/python bench/qoe.py [--play-s 45] [--profiles 4g,3g,drop]

Needs redis-server, ffmpeg, the npm Shaka Packager and Shaka Player, and /usr/bin/chromium.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from playwright.sync_api import CDPSession, Page, Request  # noqa: E402
from startup import CLOCK, bare_dir, process  # noqa: E402  (bench/startup.py, a sibling script)

import tests.fixtures.published as published  # noqa: E402
from reelflow.catalog import engine_from_settings  # noqa: E402
from reelflow.catalog.db import upgrade  # noqa: E402
from reelflow.config import Settings  # noqa: E402
from reelflow.playback_api.auth import mint_dev_token  # noqa: E402
from reelflow.playback_api.auth_config import dev_token_secret  # noqa: E402
from reelflow.storage import LocalStore  # noqa: E402
from tests.services import free_port, redis_server  # noqa: E402
from tests.web.harness import chromium  # noqa: E402

TITLE = "bench-qoe"
TITLE_SECONDS = 60


@dataclass(frozen=True)
class Phase:
    down_kbps: float
    latency_ms: float
    share: float  # of the play time


PROFILES: dict[str, tuple[Phase, ...]] = {
    "4g": (Phase(9000, 85, 1.0),),
    "3g": (Phase(1600, 300, 1.0),),
    "drop": (Phase(6000, 85, 1 / 3), Phase(700, 85, 1 / 3), Phase(6000, 85, 1 / 3)),
}

STATS = """() => {
  const p = window.__player || (window.reelflow && window.reelflow.player);
  if (!p) return null;
  const s = p.getStats();
  return { width: s.width, height: s.height, streamBandwidth: s.streamBandwidth,
           estimatedBandwidth: s.estimatedBandwidth, loadLatency: s.loadLatency,
           playTime: s.playTime, bufferingTime: s.bufferingTime,
           switches: s.switchHistory.filter((x) => x.type === 'variant').length,
           heights: [...new Set(s.switchHistory.filter((x) => x.type === 'variant')
             .map((x) => (p.getVariantTracks().find((t) => t.id === x.id) || {}).height))] };
}"""


def shape(cdp: CDPSession, phase: Phase) -> None:
    cdp.send(
        "Network.emulateNetworkConditions",
        {
            "offline": False,
            "latency": phase.latency_ms,
            "downloadThroughput": phase.down_kbps * 1000 / 8,  # bytes per second
            "uploadThroughput": 2_000_000 / 8,
        },
    )


def play(page: Page, phases: tuple[Phase, ...], play_s: float) -> dict[str, Any]:
    """Shape the network, click Play, keep shaping through the phases; return the stats."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    # No HTTP cache between runs of a profile: every segment crosses the shaped link.
    cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
    shape(cdp, phases[0])
    page.evaluate(CLOCK)
    page.click("[data-action=play] >> nth=0")
    page.wait_for_function("window.__t.playing > 0", timeout=120_000)
    t = page.evaluate("window.__t")
    for i, phase in enumerate(phases):
        if i:
            shape(cdp, phase)
        time.sleep(play_s * phase.share)
    stats: dict[str, Any] = page.evaluate(STATS) or {}
    stats["click_to_playing_ms"] = t["playing"] - t["click"]
    return stats


def run(play_s: float, profiles: list[str]) -> None:
    published.SECONDS = TITLE_SECONDS  # make_media reads it at call time
    with tempfile.TemporaryDirectory(prefix="reelflow-bench-qoe-") as tmp, redis_server() as r:
        work = Path(tmp)
        port = free_port()
        settings = Settings(home=work / "state", redis_url=r, api_port=port)
        settings.ensure_home()
        upgrade(settings.resolved_database_url)
        engine = engine_from_settings(settings)
        store = LocalStore(settings.resolved_store_root)
        print(f"publishing a {TITLE_SECONDS} s title (real packager) ...", flush=True)
        media = published.make_media(work / "media", ffmpeg=settings.binary("ffmpeg"))
        title = published.publish_title(
            settings, engine, store, media, packager=settings.binary("packager"), title_id=TITLE
        )
        secret = dev_token_secret(settings.secrets().signing_secret)
        site = bare_dir(work, store, title)
        # The bare page keeps its player where STATS finds it.
        index = site / "index.html"
        index.write_text(
            index.read_text().replace(
                "const player = new shaka.Player();",
                "const player = new shaka.Player(); window.__player = player;",
            )
        )
        env = {
            **os.environ,
            "REELFLOW_HOME": str(settings.home),
            "REELFLOW_REDIS_URL": r,
            "REELFLOW_API_PORT": str(port),
            "REELFLOW_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",  # not needed here
        }
        reelflow = [str(Path(sys.executable).parent / "reelflow"), "api"]
        static_port = free_port()
        static = [sys.executable, "-m", "http.server", "--bind", "127.0.0.1",
                  "--directory", str(site), str(static_port)]  # fmt: skip
        results: list[tuple[str, str, dict[str, Any]]] = []
        with (
            process(reelflow, port, env, work / "api.log") as api_url,
            process(static, static_port, env, work / "static.log") as bare_url,
        ):
            for n, name in enumerate(profiles):
                phases = PROFILES[name]
                # reelflow: signed in, on the title page; beacons collected as sent.
                with chromium() as context:
                    page = context.pages[0] if context.pages else context.new_page()
                    beacons: list[dict[str, Any]] = []

                    def keep(request: Request, into: list[dict[str, Any]] = beacons) -> None:
                        if request.method == "POST" and request.url.endswith("/v1/qoe"):
                            into.append(json.loads(request.post_data or "{}"))

                    page.on("request", keep)
                    sub = f"bench-qoe-{n}"
                    token = mint_dev_token(
                        secret, sub=sub, plan="premium", country="US",
                        issuer=settings.auth_issuer, audience=settings.auth_audience,
                    )  # fmt: skip
                    auth = json.dumps(json.dumps({"token": token, "sub": sub, "plan": "premium",
                                                  "country": "US"}))  # fmt: skip
                    page.add_init_script(f"sessionStorage.setItem('reelflow.auth', {auth})")
                    page.goto(f"{api_url}/#/title/{TITLE}")
                    page.wait_for_selector("[data-action=play]")
                    stats = play(page, phases, play_s)
                    # Leaving the player sends the last beacon (pagehide).
                    page.goto(f"{api_url}/#/")
                    page.wait_for_timeout(500)
                    stats["beacons"] = _totals(beacons)
                    results.append((name, "reelflow", stats))
                with chromium() as context:
                    page = context.pages[0] if context.pages else context.new_page()
                    page.goto(f"{bare_url}/index.html")
                    page.wait_for_function("window.shaka !== undefined")
                    results.append((name, "bare", play(page, phases, play_s)))
                for _, who, s in results[-2:]:
                    print(f"  {name:<5} {who:<8} {json.dumps(s)}", flush=True)
        print()
        print(f"{TITLE_SECONDS} s title, {play_s:.0f} s played per run (fresh profile, no cache)")
        # Shaka's bufferingTime includes the start-up wait; the beacons' rebuffer time does
        # not (it counts only after the first frame), so both are printed.
        print("| profile | player | start-up ms | Shaka buffering s | beacon rebuffer s (count) "
              "| ABR switches | heights played | est. kb/s |")  # fmt: skip
        print("|---|---|---|---|---|---|---|---|")
        for name, who, s in results:
            b = s.get("beacons")
            startup = b["startup_ms"] if b and b["startup_ms"] is not None else None
            startup = startup if startup is not None else s["click_to_playing_ms"]
            rebuffer = f"{b['rebuffer_ms'] / 1000:.2f} ({b['rebuffer_count']})" if b else "-"
            print(
                f"| {name} | {who} | {startup:.0f} | {s.get('bufferingTime', 0):.2f} | "
                f"{rebuffer} | {s.get('switches', 0)} | {s.get('heights')} | "
                f"{s.get('estimatedBandwidth', 0) / 1000:.0f} |"
            )


def _totals(beacons: list[dict[str, Any]]) -> dict[str, Any]:
    startups = [b["startup_ms"] for b in beacons if b.get("startup_ms") is not None]
    return {
        "count": len(beacons),
        "startup_ms": startups[0] if startups else None,
        "rebuffer_count": sum(b.get("rebuffer_count", 0) for b in beacons),
        "rebuffer_ms": sum(b.get("rebuffer_ms", 0.0) for b in beacons),
        "played_ms": sum(b.get("played_ms", 0.0) for b in beacons),
        "bitrate_switches": sum(b.get("bitrate_switches", 0) for b in beacons),
        "errors": [e for b in beacons for e in b.get("errors", [])],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--play-s", type=float, default=45.0, help="seconds played per run")
    parser.add_argument("--profiles", default="4g,3g,drop", help="comma-separated")
    args = parser.parse_args()
    names = [p.strip() for p in args.profiles.split(",") if p.strip()]
    unknown = [p for p in names if p not in PROFILES]
    if unknown:
        raise SystemExit(f"unknown profile(s) {unknown}; known: {', '.join(PROFILES)}")
    run(args.play_s, names)
    sys.stdout.flush()
    os._exit(0)  # uvicorn/playwright threads need not linger


if __name__ == "__main__":
    main()
