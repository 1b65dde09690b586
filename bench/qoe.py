"""QoE under shaped networks: the reelflow web player via the API beside bare Shaka.

A 60 s title from a 1080p source with its real per-title ladder (bench/qoe_title.py: the
production analysis and encode, the real packager, ClearKey; ``--segment-s`` sets the
segment duration, 6 s as in production by default) is published; each profile plays it in
Debian's Chromium (launched as the web tests launch it, a fresh profile per run, HTTP cache
off):

- 4g: ~9 Mb/s down, 85 ms latency;
- 3g: ~1.6 Mb/s down, 300 ms latency;
- drop: 6 Mb/s, then 0.7 Mb/s, then 6 Mb/s again (a quarter, half and quarter of the play
  time: 10 s / 20 s / 10 s with --play-s 40), 85 ms.

Shaping (--shaping): ``devtools`` (default) emulates throughput and latency per request with
Chrome DevTools' ``Network.emulateNetworkConditions``; ``tbf`` puts Chromium in a network
namespace behind a veth whose host end has a token-bucket qdisc for the throughput (real
packets queued and dropped; bench/shaped_link.py, needs root), latency still from DevTools
(tbf adds none and netem is not available here).

Players, side by side in the same run and profile (--players):

- bare: the same package files from ``python -m http.server``, keys inline, Shaka defaults;
- reelflow-shaka-abr: the web player with reelflow/web/abr.js swapped for a stub, i.e. with
  Shaka's own ABR start (the player before the start-estimate change);
- reelflow-fetch-mpd: the web player, its playback start without ``inline_manifest`` (it
  fetches the MPD from the manifest URL, as before that change);
- reelflow-abr-live: the web player with adaptation live from the start (abr.js without
  holding it until the first frame, as before that change);
- reelflow-shaka-estimator: the web player with Shaka's own SimpleAbrManager, its samples
  timed from the request rather than the first byte (as before that change);
- reelflow: the web player from the title page's Play, first visit of its account+device;
- reelflow-return: the same account+device again: its playback start carries the bandwidth
  hint the first visit's beacons left.

Metrics, from one in-page sampler the same for every player (the selected variant every
250 ms, stalls as ``waiting`` to the next ``playing`` after the first frame) plus the
reelflow player's QoE beacons and Shaka's ``getStats()`` for cross-checking: start-up (click
to first frame; the beacons' ``startup_ms`` for reelflow), rebuffer count and ratio (stalled
time / time since the first frame), time-weighted average bitrate and height of the selected
variant, switches, and the settle time per phase (see ``settle_s``).

    .venv/bin/python bench/qoe.py [--play-s 40] [--profiles 4g,3g,drop] [--players ...]
                                  [--shaping devtools|tbf] [--segment-s 6] [--waterfall]

``--waterfall`` prints, per run, when each request of the start went out and came back
(ms after the click), to see what start-up waits for.

Needs redis-server, ffmpeg, the npm Shaka Packager and Shaka Player, and /usr/bin/chromium.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, replace
from itertools import pairwise
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from playwright.sync_api import CDPSession, Page, Request, Response, Route  # noqa: E402
from qoe_title import SECONDS as TITLE_SECONDS  # noqa: E402  (bench/, a sibling)
from qoe_title import publish  # noqa: E402
from shaped_link import HOST_ADDR, ShapedLink, shaped_link  # noqa: E402  (bench/, a sibling)
from startup import CLOCK, bare_dir, process  # noqa: E402  (bench/startup.py, a sibling script)

from reelflow.catalog import engine_from_settings  # noqa: E402
from reelflow.catalog.db import upgrade  # noqa: E402
from reelflow.config import Settings  # noqa: E402
from reelflow.playback_api.auth.auth import mint_dev_token  # noqa: E402
from reelflow.playback_api.auth.auth_config import dev_token_secret  # noqa: E402
from reelflow.storage import LocalStore  # noqa: E402
from tests.services import free_port, redis_server  # noqa: E402
from tests.web.harness import CHROMIUM, chromium  # noqa: E402

TITLE = "bench-qoe"


@dataclass(frozen=True)
class Phase:
    down_kbps: float
    latency_ms: float
    share: float  # of the play time


PROFILES: dict[str, tuple[Phase, ...]] = {
    "4g": (Phase(9000, 85, 1.0),),
    "3g": (Phase(1600, 300, 1.0),),
    "drop": (Phase(6000, 85, 0.25), Phase(700, 85, 0.5), Phase(6000, 85, 0.25)),
}

STATS = """() => {
  const p = window.__player || (window.reelflow && window.reelflow.player);
  if (!p) return null;
  const s = p.getStats();
  return { downlink: navigator.connection ? navigator.connection.downlink : null,
           variants: p.getVariantTracks().map((t) => [t.height, t.bandwidth]),
           width: s.width, height: s.height, streamBandwidth: s.streamBandwidth,
           estimatedBandwidth: s.estimatedBandwidth, loadLatency: s.loadLatency,
           playTime: s.playTime, bufferingTime: s.bufferingTime,
           switches: s.switchHistory.filter((x) => x.type === 'variant').length,
           // [seconds since the first choice, kb/s, chosen by ABR]
           history: s.switchHistory.filter((x) => x.type === 'variant').map((x) =>
             [Math.round((x.timestamp - s.switchHistory[0].timestamp) * 10) / 10,
              Math.round(x.bandwidth / 1000), x.fromAdaptation]),
           heights: [...new Set(s.switchHistory.filter((x) => x.type === 'variant')
             .map((x) => (p.getVariantTracks().find((t) => t.id === x.id) || {}).height))] };
}"""


@dataclass(frozen=True)
class Net:
    """How a run is shaped: DevTools alone, or a tbf link for the throughput (DevTools
    still adds the latency: tbf adds none, and netem is not available)."""

    link: ShapedLink | None = None
    chromium: Path = CHROMIUM

    @property
    def host(self) -> str:
        return HOST_ADDR if self.link else "127.0.0.1"

    def for_servers(self, origins: list[str]) -> Net:
        """The browser to launch once the servers' origins are known."""
        return Net(self.link, self.link.chromium(origins)) if self.link else self

    def shape(self, cdp: CDPSession, phase: Phase) -> None:
        if self.link:
            self.link.rate(phase.down_kbps)
        cdp.send(
            "Network.emulateNetworkConditions",
            {
                "offline": False,
                "latency": phase.latency_ms,
                # bytes per second; -1: no DevTools throttling (the tbf link does it)
                "downloadThroughput": -1 if self.link else phase.down_kbps * 1000 / 8,
                "uploadThroughput": -1 if self.link else 2_000_000 / 8,
            },
        )


# Installed before the click, the same in both pages: the selected variant (height and
# bandwidth) every SAMPLE_MS, and the stalls after the first frame (`waiting` to the next
# `playing`, media events seen by a capturing listener). Bounded: one run is at most a few
# hundred samples, and the page goes away with the run.
SAMPLE_MS = 250
SAMPLER = f"""() => {{
  window.__q = {{ samples: [], stalls: [], firstFrame: null, stallAt: null, ladder: [] }};
  document.addEventListener('playing', () => {{
    const now = performance.now();
    if (__q.firstFrame === null) __q.firstFrame = now;
    if (__q.stallAt !== null) {{ __q.stalls.push([__q.stallAt, now]); __q.stallAt = null; }}
  }}, true);
  document.addEventListener('waiting', () => {{
    if (__q.firstFrame !== null && __q.stallAt === null) __q.stallAt = performance.now();
  }}, true);
  setInterval(() => {{
    const p = window.__player || (window.reelflow && window.reelflow.player);
    if (!p || __q.samples.length > 4000) return;
    if (!__q.ladder.length) __q.ladder = [...new Set(p.getVariantTracks().map((t) => t.bandwidth))];
    const v = p.getVariantTracks().find((t) => t.active);
    if (v) __q.samples.push([performance.now(), v.height, v.bandwidth]);
  }}, {SAMPLE_MS});
}}"""


def _kind(url: str) -> str:
    path = url.split("?")[0]
    for kind, marks in (("playback", ("/playback",)), ("license", ("/license", "clearkey")),
                        ("manifest", (".mpd", ".m3u8")), ("init", ("init",)),
                        ("segment", (".m4s", ".mp4", ".ts", ".aac"))):  # fmt: skip
        if any(m in path for m in marks):
            return kind
    return "other"


def watch_requests(page: Page) -> list[tuple[str, str, float, float]]:
    """(kind, file, start, end) of every finished request, epoch ms (Playwright's timing)."""
    done: list[tuple[str, str, float, float]] = []

    def finished(request: Request) -> None:
        t = request.timing
        if t["startTime"] > 0 and t["responseEnd"] >= 0:
            name = "/".join(request.url.split("?")[0].rsplit("/", 2)[-2:])
            done.append((_kind(request.url), name, t["startTime"],
                         t["startTime"] + t["responseEnd"]))  # fmt: skip

    page.on("requestfinished", finished)
    return done


def waterfall(requests: list[tuple[str, str, float, float]], click: float, first: float) -> str:
    """The requests that started before the first frame, as ms after the click."""
    rows = sorted((r for r in requests if click - 50 <= r[2] <= first), key=lambda r: r[2])
    return "; ".join(f"{k} {n[-40:]} {a - click:.0f}-{b - click:.0f}" for k, n, a, b in rows)


@dataclass(frozen=True)
class Run:
    """One player's run: the profile's phases, how long, how shaped, what is printed, and
    the --tune experiment (reelflow players only)."""

    phases: tuple[Phase, ...]
    play_s: float
    net: Net
    waterfall: bool = False
    tune: dict[str, Any] | None = None


def play(page: Page, run: Run) -> dict[str, Any]:
    """Shape the network, click Play, keep shaping through the phases; return the stats."""
    phases, play_s, net, tune = run.phases, run.play_s, run.net, run.tune
    requests = watch_requests(page)
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    # No HTTP cache between runs of a profile: every segment crosses the shaped link.
    cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
    net.shape(cdp, phases[0])
    page.evaluate(CLOCK)
    page.evaluate(SAMPLER)
    # The last Play button: "Start over" when the title page offers to resume (a return
    # visit), so every run plays from 0.
    page.click("[data-action=play] >> nth=-1")
    page.wait_for_function("window.__t.playing > 0", timeout=120_000)
    if tune:  # an experiment (--tune): extra player configuration from the first frame on
        page.evaluate("(c) => window.reelflow.player.configure(c)", tune)
    t = page.evaluate("window.__t")
    # Phase boundaries in page time: the first phase starts at the first frame.
    starts: list[float] = [t["playing"]]
    for i, phase in enumerate(phases):
        if i:
            net.shape(cdp, phase)
            starts.append(page.evaluate("performance.now()"))
        time.sleep(play_s * phase.share)
    end = page.evaluate("performance.now()")
    stats: dict[str, Any] = page.evaluate(STATS) or {}
    stats["click_to_playing_ms"] = t["playing"] - t["click"]
    if run.waterfall:
        origin = page.evaluate("performance.timeOrigin")
        print("    waterfall: " + waterfall(requests, origin + t["click"], origin + t["playing"]))
    q = page.evaluate("window.__q")
    stats["timeline"] = timeline_metrics(q, phases, starts, end)
    return stats


# The players compared, each on a fresh browser profile (see the module docstring): bare
# Shaka; the web player with one change taken out each ("reelflow-shaka-abr": abr.js a stub,
# Shaka's own ABR start, nothing measured sent back; "reelflow-fetch-mpd"; "reelflow-abr-
# live"; "reelflow-shaka-estimator"); "reelflow", a first visit of its account+device (no
# hint yet); "reelflow-return", the next visit of that account+device (the hint its first
# visit's beacons left).
PLAYERS = (
    "bare", "reelflow-shaka-abr", "reelflow-fetch-mpd", "reelflow-abr-live",
    "reelflow-shaka-estimator", "reelflow", "reelflow-return",
)  # fmt: skip
SHAKA_ABR_STUB = """export const START_SHARE = 1;
export function startAbrConfig() { return {}; }
export function afterStartAbrConfig() { return {}; }
export function measuredKbps() { return null; }
export function firstSegmentSeconds() { return null; }
export function latencyAwareAbrFactory() { return () => new window.shaka.abr.SimpleAbrManager(); }
"""


def _abr_live(route: Route) -> None:
    """abr.js without holding adaptation until the first frame."""
    real = route.fetch()
    body = real.text().replace("enabled: false", "enabled: true")
    route.fulfill(response=real, body=body)


def _shaka_estimator(route: Route) -> None:
    """abr.js with Shaka's SimpleAbrManager as it comes (samples timed from the request)."""
    real = route.fetch()
    body = real.text().replace(
        "return () => new LatencyAwareAbrManager();",
        "return () => new shaka.abr.SimpleAbrManager();",
    )
    if body == real.text():
        raise RuntimeError("abr.js no longer builds a LatencyAwareAbrManager: update the bench")
    route.fulfill(response=real, body=body)


def _no_inline_mpd(route: Route) -> None:
    """The playback start without ``inline_manifest``: the player fetches the MPD. (The
    interception itself costs this player a few ms on that request.)"""
    body = json.loads(route.request.post_data or "{}")
    body.pop("inline_manifest", None)
    route.continue_(post_data=json.dumps(body))


def play_reelflow(api_url: str, viewer: str, device: str, who: str, run: Run) -> dict[str, Any]:
    """The web player signed in as ``viewer`` on ``device``, from the title page's Play;
    the beacons it sent are collected as sent."""
    with chromium(executable=run.net.chromium) as context:
        page = context.pages[0] if context.pages else context.new_page()
        if who == "reelflow-shaka-abr":
            page.route(
                "**/abr.js",
                lambda route: route.fulfill(
                    body=SHAKA_ABR_STUB, content_type="text/javascript; charset=utf-8"
                ),
            )
        elif who == "reelflow-abr-live":
            page.route("**/abr.js", _abr_live)
        elif who == "reelflow-shaka-estimator":
            page.route("**/abr.js", _shaka_estimator)
        elif who == "reelflow-fetch-mpd":
            page.route(f"**/v1/titles/{TITLE}/playback", _no_inline_mpd)
        beacons: list[dict[str, Any]] = []
        starts: list[dict[str, Any]] = []

        def keep(request: Request) -> None:
            if request.method == "POST" and request.url.endswith("/v1/qoe"):
                beacons.append(json.loads(request.post_data or "{}"))

        def answered(response: Response) -> None:
            if response.request.method == "POST" and response.url.endswith("/playback"):
                starts.append(response.json())

        page.on("request", keep)
        page.on("response", answered)
        page.add_init_script(
            f"sessionStorage.setItem('reelflow.auth', {json.dumps(viewer)});"
            f"localStorage.setItem('reelflow.device', {json.dumps(device)});"
        )
        page.goto(f"{api_url}/#/title/{TITLE}")
        page.wait_for_selector("[data-action=play]")
        stats = play(page, run)
        # Leaving the player ends the session and sends the last beacon.
        page.goto(f"{api_url}/#/")
        page.wait_for_timeout(500)
        stats["beacons"] = _totals(beacons)
        stats["hint_kbps"] = starts[0].get("bandwidth_hint_kbps") if starts else None
        return stats


@dataclass(frozen=True)
class Options:
    segment_s: int = 6
    waterfall: bool = False
    tune: dict[str, Any] | None = None


def run(
    play_s: float, profiles: list[str], players: list[str], shaping: str, opts: Options
) -> None:
    with ExitStack() as stack:
        net = Net(stack.enter_context(shaped_link()) if shaping == "tbf" else None)
        _run(play_s, profiles, players, net, opts)


def _run(play_s: float, profiles: list[str], players: list[str], net: Net, opts: Options) -> None:
    with tempfile.TemporaryDirectory(prefix="reelflow-bench-qoe-") as tmp, redis_server() as r:
        work = Path(tmp)
        port = free_port()
        settings = Settings(home=work / "state", redis_url=r, api_port=port)
        settings.ensure_home()
        upgrade(settings.resolved_database_url)
        engine = engine_from_settings(settings)
        store = LocalStore(settings.resolved_store_root)
        print(f"publishing the {TITLE_SECONDS} s title ...", flush=True)
        title, how = publish(
            settings, engine, store, work, title_id=TITLE, segment_s=opts.segment_s
        )
        print(f"title: {how}", flush=True)
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
            # tbf: on the veth's host end, reachable only from the bench's namespace.
            "REELFLOW_API_HOST": net.host,
            "REELFLOW_EMBEDDED_ALLOW_PUBLIC_BIND": "1" if net.link else "0",
        }
        reelflow = [str(Path(sys.executable).parent / "reelflow"), "api"]
        static_port = free_port()
        static = [sys.executable, "-m", "http.server", "--bind", net.host,
                  "--directory", str(site), str(static_port)]  # fmt: skip
        results: list[tuple[str, str, dict[str, Any]]] = []
        with (
            process(reelflow, port, env, work / "api.log", net.host) as api_url,
            process(static, static_port, env, work / "static.log", net.host) as bare_url,
        ):
            net = net.for_servers([api_url, bare_url])
            for n, name in enumerate(profiles):
                phases = PROFILES[name]
                # One account per profile and one device per player: only the return visit
                # gets a hint, the one its first visit's ("reelflow") beacons left.
                sub = f"bench-qoe-{n}"
                token = mint_dev_token(
                    secret, sub=sub, plan="premium", country="US",
                    issuer=settings.auth_issuer, audience=settings.auth_audience,
                )  # fmt: skip
                viewer = json.dumps({"token": token, "sub": sub, "plan": "premium",
                                     "country": "US"})  # fmt: skip
                spec = Run(phases, play_s, net, opts.waterfall)
                for who in players:
                    if who == "bare":
                        with chromium(executable=net.chromium) as context:
                            page = context.pages[0] if context.pages else context.new_page()
                            page.goto(f"{bare_url}/index.html")
                            page.wait_for_function("window.shaka !== undefined")
                            stats = play(page, spec)
                    else:
                        device = f"bench-device-{n}-{who.removesuffix('-return')}"
                        tuned = replace(spec, tune=opts.tune)
                        stats = play_reelflow(api_url, viewer, device, who, tuned)
                    results.append((name, who, stats))
                    print(f"  {name:<5} {who:<18} {json.dumps(stats)}", flush=True)
        print()
        how = ("tbf on a veth into a network namespace (throughput) + DevTools (latency)"
               if net.link else "DevTools Network.emulateNetworkConditions")  # fmt: skip
        print(f"shaping: {how}")
        report(results, play_s)


def _fmt(x: float | None, spec: str = ".1f") -> str:
    return "-" if x is None else format(x, spec)


def _ratio(a: float | None, b: float | None, floor: float = 0.0) -> str:
    """a / b; "=" when both are at most ``floor`` (below what the run can resolve)."""
    if a is None or b is None:
        return "never" if a is None and b is None else ("a never" if a is None else "b never")
    if a <= floor and b <= floor:
        return "="
    if b == 0:
        return "=" if a == 0 else "inf"
    return f"{a / b:.2f}x"


def startup_ms(s: dict[str, Any]) -> float:
    """The beacons' start-up when there are beacons (reelflow), else click to `playing`."""
    b = s.get("beacons")
    if b and b["startup_ms"] is not None:
        return float(b["startup_ms"])
    return float(s["click_to_playing_ms"])


def report(results: list[tuple[str, str, dict[str, Any]]], play_s: float) -> None:
    print(f"{TITLE_SECONDS} s title, {play_s:.0f} s played per run (fresh profile, no cache)")
    print(f"settle: selected variant on the highest rung <= {SUSTAIN_MARGIN} x the phase's "
          f"throughput, held {SETTLE_HOLD_S:.0f} s or to the phase's end")  # fmt: skip
    print("| profile | player | start-up ms | rebuffer ratio (count) | avg kb/s | avg height "
          "| switches | settle s (per phase) | Shaka buffering s | beacons: rebuffer s (count), "
          "switches |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, who, s in results:
        tl = s["timeline"]
        b = s.get("beacons")
        beacon = (f"{b['rebuffer_ms'] / 1000:.2f} ({b['rebuffer_count']}), "
                  f"{b['bitrate_switches']}") if b else "-"  # fmt: skip
        settles = " / ".join(_fmt(x) for x in tl["settle_s"])
        if s.get("hint_kbps"):
            who = f"{who} (hint {s['hint_kbps']:.0f} kb/s)"
        print(
            f"| {name} | {who} | {startup_ms(s):.0f} | {_fmt(tl['rebuffer_ratio'], '.2%')} "
            f"({tl['rebuffer_count']}) | {tl['avg_kbps']:.0f} | {tl['avg_height']:.0f} | "
            f"{tl['switches']} | {settles} | {s.get('bufferingTime', 0):.2f} | {beacon} |"
        )
    print()
    print("reelflow / bare (lower is better; '=': both zero, or both settled within "
          f"{SETTLE_FLOOR_S} s; 'a never'/'b never': reelflow/bare never settled)")  # fmt: skip
    print("| profile | player | start-up | rebuffer s | settle (per phase) | avg kb/s |")
    print("|---|---|---|---|---|---|")
    bare = {name: s for name, who, s in results if who == "bare"}
    for name, who, s in results:
        if who == "bare" or name not in bare:
            continue
        o, tl = bare[name], s["timeline"]
        settles = " / ".join(
            _ratio(x, y, SETTLE_FLOOR_S)
            for x, y in zip(tl["settle_s"], o["timeline"]["settle_s"], strict=True)
        )
        print(
            f"| {name} | {who} | {_ratio(startup_ms(s), startup_ms(o))} | "
            f"{_ratio(tl['rebuffer_s'], o['timeline']['rebuffer_s'])} | {settles} | "
            f"{_ratio(tl['avg_kbps'], o['timeline']['avg_kbps'])} |"
        )


# "Best sustainable rung" of a phase: the highest variant whose bandwidth (video + audio,
# as the manifest declares it) is at most SUSTAIN_MARGIN of the phase's throughput. Settled:
# the selected variant is that rung and stays on it for SETTLE_HOLD_S (or to the end of the
# phase, when less is left).
SUSTAIN_MARGIN = 0.8
SETTLE_HOLD_S = 8.0
SETTLE_FLOOR_S = 0.5  # two samples: settle times both below it compare as equal


def best_rung(bandwidths: list[int], down_kbps: float) -> int | None:
    fits = [b for b in bandwidths if b <= SUSTAIN_MARGIN * down_kbps * 1000]
    return max(fits) if fits else (min(bandwidths) if bandwidths else None)


def settle_s(
    samples: list[tuple[float, int, int]], target: int | None, start: float, end: float
) -> float | None:
    """Seconds from ``start`` until the selected variant is ``target`` and holds it for
    SETTLE_HOLD_S or to ``end``; None if it never does within [start, end)."""
    if target is None:
        return None
    inside = [(t, bw) for t, _, bw in samples if start <= t < end]
    since: float | None = None
    for t, bw in inside:
        if bw != target:
            since = None
            continue
        since = t if since is None else since
        if t - since >= SETTLE_HOLD_S * 1000:
            return (since - start) / 1000
    # On it at the phase's end, with less than the hold left: settled, late.
    return (since - start) / 1000 if since is not None else None


def timeline_metrics(
    q: dict[str, Any], phases: tuple[Phase, ...], starts: list[float], end: float
) -> dict[str, Any]:
    """From the page's samples: rebuffers after the first frame, time-weighted average
    bitrate and height of the selected variant, its switches, and the settle time of each
    phase (from the first frame for the first, from the phase's start for the others)."""
    first = float(q["firstFrame"] or starts[0])
    raw: list[tuple[float, int, int]] = [(float(t), int(h), int(b)) for t, h, b in q["samples"]]
    after = [x for x in raw if first <= x[0] <= end]
    stalls = [(a, b) for a, b in q["stalls"]]
    if q.get("stallAt") is not None:
        stalls.append((q["stallAt"], end))
    stalled = sum(b - a for a, b in stalls)
    watched = end - first
    weights = [(after[i + 1][0] if i + 1 < len(after) else end) - after[i][0]
               for i in range(len(after))]  # fmt: skip
    total = sum(weights) or 1.0
    switches = sum(1 for a, b in pairwise(after) if a[2] != b[2])
    # Every variant of the manifest (as the player lists them), not only those it played.
    bandwidths = sorted({int(b) for b in q["ladder"]} | {b for _, _, b in raw})
    bounds = [*starts[1:], end]
    settles: list[float | None] = []
    for i, phase in enumerate(phases):
        target = best_rung(bandwidths, phase.down_kbps)
        settles.append(settle_s(raw, target, starts[i], bounds[i]))
    return {
        "rebuffer_count": len(stalls),
        "rebuffer_s": stalled / 1000,
        "rebuffer_ratio": stalled / watched if watched > 0 else None,
        "avg_kbps": sum(w * b for w, (_, _, b) in zip(weights, after, strict=True)) / total / 1000,
        "avg_height": sum(w * h for w, (_, h, _) in zip(weights, after, strict=True)) / total,
        "switches": switches,
        "settle_s": settles,
        "targets_kbps": [(best_rung(bandwidths, p.down_kbps) or 0) / 1000 for p in phases],
    }


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
    parser.add_argument("--players", default=",".join(PLAYERS), help="comma-separated")
    parser.add_argument(
        "--shaping",
        choices=("devtools", "tbf"),
        default="devtools",
        help="devtools: throughput and latency emulated by Chromium; tbf: throughput by a "
        "token-bucket qdisc on a veth into a network namespace (root), latency by DevTools",
    )
    parser.add_argument("--segment-s", type=int, default=6, help="segment duration of the package")
    parser.add_argument("--waterfall", action="store_true", help="print each start's requests")
    parser.add_argument(
        "--tune",
        default="",
        help="an experiment: Shaka configuration (JSON) the reelflow players apply at the "
        'first frame, e.g. \'{"abr": {"bandwidthUpgradeTarget": 0.95}}\'',
    )
    args = parser.parse_args()
    names = [p.strip() for p in args.profiles.split(",") if p.strip()]
    unknown = [p for p in names if p not in PROFILES]
    if unknown:
        raise SystemExit(f"unknown profile(s) {unknown}; known: {', '.join(PROFILES)}")
    who = [p.strip() for p in args.players.split(",") if p.strip()]
    if not who or [p for p in who if p not in PLAYERS]:
        raise SystemExit(f"players: a comma-separated subset of {', '.join(PLAYERS)}")
    tune = json.loads(args.tune) if args.tune else None
    run(args.play_s, names, who, args.shaping, Options(args.segment_s, args.waterfall, tune))
    sys.stdout.flush()
    os._exit(0)  # uvicorn/playwright threads need not linger


if __name__ == "__main__":
    main()
