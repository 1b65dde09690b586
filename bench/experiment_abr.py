"""The first real experiment (issue 23): two ABR configurations of the web player, judged by
the viewer events, in Chromium under bench/qoe.py's shaped network.

The QoE title (bench/qoe_title.py: 60 s from 1080p, its real per-title ladder, 6 s segments)
is published into a SQLite catalog; a real ``reelflow api`` process on a real Redis serves
it. The experiment is created and started through the admin API:

- ``control``: ``{}``, the player as it ships (abr.js starts Shaka's estimate at a share of
  what it knows of the link, so the first segment arrives in about half a second);
- ``eager-start``: ``{"abr": {"defaultBandwidthEstimate": 20000000}}``, Shaka's first
  estimate at 20 Mb/s, so the first segment comes from the top rung.

The known difference: on a link slower than the top rung's first segment needs to arrive
quickly (the ``4g`` profile: 9 Mb/s, 85 ms), eager-start waits for a whole top-rung segment
before the first frame, control for a low rung's: start-up is several times longer. Primary
metric minutes watched (the same for both: every viewer plays ``--play-s``), guardrails
start-up p90 and rebuffer ratio; the expected verdict is start-up p50 and p90 worse for
eager-start and the hint "stop: guardrail hurt".

``--viewers`` per variant, account ids picked by the experiment's own assignment (what a
GrowthBook SDK would give them), taking turns between the variants so drift on the shared
machine hits both. Each plays one session as bench/qoe.py plays one (a fresh Chromium
profile, the title page's Play, ``--play-s`` seconds, leaving ends the session). Then the
events writer (the real EventWriter, as ``reelflow events writer`` runs it) writes the
stream to Parquet, and the results are read from ``GET /v1/admin/experiments/{key}/results``
and ``reelflow experiments results <key>``, printed beside the bench's own measurements.

    .venv/bin/python bench/experiment_abr.py [--viewers 45] [--play-s 6] [--profile 4g]
                                             [--shaping devtools|tbf]

(45 viewers per variant take about 18 minutes; with 20, start-up p90 is not readable yet:
its order-statistic interval runs past the largest session.)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import redis  # noqa: E402
from qoe import PROFILES, Net, Run, play_reelflow  # noqa: E402  (bench/, a sibling)
from qoe import TITLE as QOE_TITLE  # noqa: E402
from qoe_title import publish  # noqa: E402
from shaped_link import shaped_link  # noqa: E402
from startup import process  # noqa: E402

from reelflow.catalog import engine_from_settings  # noqa: E402
from reelflow.catalog.db import upgrade  # noqa: E402
from reelflow.config import Settings  # noqa: E402
from reelflow.events.log import RedisStreamLog  # noqa: E402
from reelflow.events.writer import EventWriter  # noqa: E402
from reelflow.experiments.assignment import Assigner, Viewer  # noqa: E402
from reelflow.experiments.definitions import ExperimentIn, checked, spec_of  # noqa: E402
from reelflow.playback_api.auth.auth import mint_dev_token  # noqa: E402
from reelflow.playback_api.auth.auth_config import dev_token_secret  # noqa: E402
from reelflow.storage import LocalStore, store_from_settings  # noqa: E402
from tests.services import free_port, redis_server  # noqa: E402

KEY = "abr-eager-start"
VARIANTS = ("control", "eager-start")
EXPERIMENT: dict[str, Any] = {
    "key": KEY,
    "hypothesis": "a 20 Mb/s first estimate starts on the top rung and slows start-up",
    "variants": [
        {"key": "control", "weight": 0.5, "config": {}},
        {"key": "eager-start", "weight": 0.5,
         "config": {"abr": {"defaultBandwidthEstimate": 20_000_000}}},
    ],
    "primary_metric": "minutes_watched",
    "guardrails": ["startup_p90", "rebuffer_ratio"],
    "mde": 0.1,
}  # fmt: skip


def viewers(per_variant: int) -> list[tuple[str, str]]:
    """(account id, variant), taking turns between the variants, as assignment gives them
    to a US premium desktop viewer (Chromium's User-Agent)."""
    assigner = Assigner([spec_of(checked(ExperimentIn.model_validate(EXPERIMENT)))])
    chosen: dict[str, list[str]] = {v: [] for v in VARIANTS}
    for _ in range(100 * per_variant):
        sub = f"viewer-{uuid.uuid4().hex[:10]}"
        variant = assigner.assign(Viewer(sub, "US", "premium", "desktop"))[KEY].variant
        if len(chosen[variant]) < per_variant:
            chosen[variant].append(sub)
        if all(len(v) == per_variant for v in chosen.values()):
            break
    return [(sub, key) for pair in zip(*chosen.values(), strict=True)
            for sub, key in zip(pair, chosen, strict=True)]  # fmt: skip


def write_events(settings: Settings) -> int:
    """What ``reelflow events writer`` does: the stream into Parquet; returns the steps."""
    client = redis.Redis.from_url(settings.redis_url)
    try:
        log = RedisStreamLog(client)
        writer = EventWriter(log, store_from_settings(settings), "bench", block_ms=10)
        for step in range(1000):  # bounded: a few batches at most
            if writer.step() == 0 and log.backlog() == 0:
                return step
        raise RuntimeError(f"the writer left {log.backlog()} entries")
    finally:
        client.close()


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v * 100:+.1f}%"


def print_results(report: dict[str, Any]) -> None:
    counts = ", ".join(f"{v['key']} {v['viewers']} viewers / {v['sessions']} sessions"
                       for v in report["variants"])  # fmt: skip
    srm = report["results"]["srm"]
    print(f"results (GET .../results): {counts}; SRM p = {srm['p_value']:.3f}"
          f"{' MISMATCH' if srm['mismatch'] else ''}; left out {report['left_out']}")  # fmt: skip
    print("| metric | role | control | eager-start | lift | sequential 95% | fixed 95% "
          "| p (seq.) | verdict |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for m in report["results"]["metrics"]:
        rel = m["relative"] or {}
        seq, fixed = rel.get("sequential") or {}, rel.get("fixed") or {}

        def num(v: float | None) -> str:
            return "-" if v is None else f"{v:.3f}"

        p = seq.get("p_value")
        print(f"| {m['metric']} | {m['role']} | {num(m['control_value'])} | {num(m['value'])} | "
              f"{_pct(rel.get('estimate'))} | {_pct(seq.get('low'))} to {_pct(seq.get('high'))} | "
              f"{_pct(fixed.get('low'))} to {_pct(fixed.get('high'))} | "
              f"{'-' if p is None else f'{p:.2g}'} | {m['verdict']}"
              f"{' (' + m['reason'] + ')' if m['reason'] else ''} |")  # fmt: skip
    for d in report["results"]["decisions"]:
        needed = f" (units needed {d['units_needed']})" if d["units_needed"] else ""
        print(f"decision for {d['variant']}: {d['hint']} {list(d['reasons'])}{needed}")


def print_measured(sessions: list[tuple[str, dict[str, Any]]]) -> None:
    """The bench's own view of the same sessions (page timing, beacons, Shaka's stats)."""
    print("the bench's own measurements of the same sessions (medians):")
    for variant in VARIANTS:
        mine = [s for v, s in sessions if v == variant]
        startup = [s["beacons"]["startup_ms"] or s["click_to_playing_ms"] for s in mine]
        kbps = [s["timeline"]["avg_kbps"] for s in mine]
        stalls = [s["timeline"]["rebuffer_ratio"] or 0.0 for s in mine]
        p90 = sorted(startup)[math.ceil(0.9 * len(startup)) - 1]  # nearest rank
        print(f"  {variant:<12} n={len(mine):3d}  start-up {statistics.median(startup):7.0f} ms "
              f"(p90 {p90:.0f})  "
              f"avg {statistics.median(kbps):6.0f} kb/s  rebuffer ratio "
              f"{statistics.median(stalls):.2%}  start-up samples "
              f"{[round(x) for x in startup]}")  # fmt: skip


def run(opts: argparse.Namespace) -> None:
    with ExitStack() as stack:
        net = Net(stack.enter_context(shaped_link()) if opts.shaping == "tbf" else None)
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="reelflow-bench-ab-")))
        r = stack.enter_context(redis_server())
        port = free_port()
        settings = Settings(home=tmp / "state", redis_url=r, api_port=port)
        settings.ensure_home()
        upgrade(settings.resolved_database_url)
        print(f"publishing the QoE title ({QOE_TITLE}) ...", flush=True)
        _, how = publish(settings, engine_from_settings(settings),
                         LocalStore(settings.resolved_store_root), tmp, title_id=QOE_TITLE,
                         segment_s=6)  # fmt: skip
        print(f"title: {how}", flush=True)
        env = {**os.environ, "REELFLOW_HOME": str(settings.home), "REELFLOW_REDIS_URL": r,
               "REELFLOW_API_PORT": str(port), "REELFLOW_API_HOST": net.host,
               "REELFLOW_EMBEDDED_ALLOW_PUBLIC_BIND": "1" if net.link else "0",
               "REELFLOW_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}"}  # fmt: skip
        api = [str(Path(sys.executable).parent / "reelflow"), "api"]
        api_url = stack.enter_context(process(api, port, env, tmp / "api.log", net.host))
        net = net.for_servers([api_url])
        secret = dev_token_secret(settings.secrets().signing_secret)

        def token(sub: str, **extra: Any) -> str:
            return mint_dev_token(secret, sub=sub, plan="premium", country="US", ttl_s=4 * 3600,
                                  issuer=settings.auth_issuer, audience=settings.auth_audience,
                                  **extra)  # fmt: skip

        admin = {"Authorization": f"Bearer {token('ops', admin=True)}"}
        base = f"{api_url}/v1/admin/experiments"
        for path, body in (("", EXPERIMENT), (f"/{KEY}/start", None)):
            made = httpx.post(base + path, json=body, headers=admin, timeout=30)
            made.raise_for_status()
        spec = Run(PROFILES[opts.profile], opts.play_s, net)
        plan = viewers(opts.viewers)
        sessions: list[tuple[str, dict[str, Any]]] = []
        t0 = time.monotonic()
        for n, (sub, variant) in enumerate(plan, 1):
            viewer = json.dumps({"token": token(sub), "sub": sub, "plan": "premium",
                                 "country": "US"})  # fmt: skip
            stats = play_reelflow(api_url, viewer, f"device-{sub}", "reelflow", spec)
            sessions.append((variant, stats))
            print(f"  {n:3d}/{len(plan)} {variant:<12} start-up "
                  f"{stats['beacons']['startup_ms'] or stats['click_to_playing_ms']:.0f} ms, "
                  f"avg {stats['timeline']['avg_kbps']:.0f} kb/s "
                  f"({time.monotonic() - t0:.0f} s)", flush=True)  # fmt: skip
        time.sleep(2)  # the last page's keepalive requests land
        steps = write_events(settings)
        print(f"\nevents writer: the stream written to Parquet in {steps} steps")
        report = httpx.get(f"{base}/{KEY}/results", headers=admin, timeout=120)
        report.raise_for_status()
        print_results(report.json())
        cli = subprocess.run([str(Path(sys.executable).parent / "reelflow"), "experiments",
                              "results", KEY], env=env, capture_output=True, text=True,
                             cwd=ROOT, timeout=300)  # fmt: skip
        print("\n$ reelflow experiments results " + KEY)
        print(cli.stdout.rstrip() or cli.stderr[-2000:])
        print()
        print_measured(sessions)
        link = " then ".join(f"{p.down_kbps:.0f} kb/s {p.latency_ms:.0f} ms"
                             for p in PROFILES[opts.profile])  # fmt: skip
        print(f"profile {opts.profile} ({link}), {opts.play_s:.0f} s per session, shaping "
              f"{opts.shaping}, load average {os.getloadavg()[0]:.2f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--viewers", type=int, default=45, help="per variant, one session each")
    parser.add_argument("--play-s", type=float, default=6.0, help="seconds played per session")
    parser.add_argument("--profile", choices=sorted(PROFILES), default="4g")
    parser.add_argument("--shaping", choices=("devtools", "tbf"), default="devtools")
    opts = parser.parse_args()
    if opts.viewers < 2:
        raise SystemExit("--viewers: at least 2 per variant")
    run(opts)
    sys.stdout.flush()
    os._exit(0)  # uvicorn/playwright threads need not linger


if __name__ == "__main__":
    main()
