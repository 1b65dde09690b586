"""Soak: minutes of mixed player load on the API while Redis and then PostgreSQL restart.

Real processes on loopback: PostgreSQL (the catalog), Redis (append-only, as deployed), one
or more ``reelflow api`` replicas (one uvicorn worker each, as shipped; the client
round-robins players over them), and a published, ClearKey-encrypted title (ffmpeg and
Shaka Packager, tests/fixtures/published.py) beside bench/home.py's catalog rows so the
home has rows to rank. Temporal is not started: nothing here starts a workflow.

Load: ``--rate`` requests/s, open loop, from ``--players`` players (each its own account
and device): playback starts, heartbeats, DASH manifests, ClearKey licenses, viewer event
batches, home rows and session ends (bench/soak_load.py). At ``--redis-at`` of the run
Redis gets SIGTERM and is started again ``--down`` seconds later on the same port and
append-only file; at ``--pg-at`` PostgreSQL is stopped (fast mode) and started likewise.

Checked and printed (bench/soak_report.py): while a dependency is down (and ``--grace`` s
after) only clean 503 problems (application/problem+json, Retry-After) among 5xx; no 5xx
otherwise; no request without an answer; recovery time after each restart; the API's RSS
every 5 s, growth from the end of ``--warmup`` to the end <= 5 %; p50/p99 per 10 s. Writes
the summary (JSON) and every request (CSV) to ``--out``, and the chart to ``--plot``.

    .venv/bin/python bench/soak.py [--minutes 30] [--rate 60] [--replicas 1] [--down 15]

Needs redis-server, PostgreSQL (initdb, pg_ctl), ffmpeg and the npm Shaka Packager, as the
test suite does. Exit status 1 when a rule is broken.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from soak_load import Load, Player, kids_b64, run_load  # noqa: E402
from soak_report import Outage, plot, summarise  # noqa: E402
from soak_services import Api, Postgres, Redis  # noqa: E402

TITLE = "tt-soak"
RSS_EVERY_S = 5.0


def options() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--minutes", type=float, default=30.0)
    p.add_argument("--rate", type=float, default=60.0, help="requests/s, all operations")
    p.add_argument("--players", type=int, default=40)
    p.add_argument("--replicas", type=int, default=1, choices=(1, 2))
    p.add_argument("--redis-at", type=float, default=0.4, help="fraction of the run")
    p.add_argument("--pg-at", type=float, default=0.7, help="fraction of the run")
    p.add_argument("--down", type=float, default=15.0, help="seconds each server stays down")
    p.add_argument("--grace", type=float, default=10.0, help="s after a restart still 'outage'")
    p.add_argument("--warmup", type=float, default=120.0, help="s before memory is compared")
    p.add_argument("--out", type=Path, default=None, help="summary.json and requests.csv here")
    p.add_argument("--plot", type=Path, default=ROOT / "docs/images/soak-p99.png")
    return p.parse_args()


def prepare(base: Path, pg: Postgres, redis_url: str) -> tuple[dict[str, str], Any, list[str]]:
    """Migrate the catalog, publish the title, seed the home's rows; the API's env."""
    from home import seed_catalog  # bench/, a sibling

    from reelflow.catalog import engine_from_settings
    from reelflow.catalog.db import upgrade
    from reelflow.config import Settings
    from reelflow.storage import LocalStore
    from tests.fixtures.published import make_media, publish_title

    env = {
        **os.environ,
        "REELFLOW_HOME": str(base / "state"),
        "REELFLOW_REDIS_URL": redis_url,
        "REELFLOW_DATABASE_URL": pg.url,
        "REELFLOW_TEMPORAL_ADDRESS": "127.0.0.1:9",  # nothing here starts a workflow
        # Players renew, restart and fetch licenses far more often than real ones do.
        "REELFLOW_LICENSE_RATE_PER_MINUTE": "100000",
        "REELFLOW_PLAYBACK_STARTS_PER_MINUTE": "100000",
    }
    settings = Settings(home=base / "state", redis_url=redis_url, database_url=pg.url)
    settings.ensure_home()
    upgrade(settings.resolved_database_url)
    engine = engine_from_settings(settings)
    print("publishing a title (ffmpeg + Shaka Packager) ...", flush=True)
    media = make_media(base / "media", ffmpeg=settings.binary("ffmpeg"))
    store = LocalStore(settings.resolved_store_root)
    title = publish_title(
        settings, engine, store, media, packager=settings.binary("packager"), title_id=TITLE
    )
    seed_catalog(settings, 40)
    engine.dispose()
    return env, settings, [title.kid(c) for c in ("SD", "HD", "AUDIO")]


def players(settings: Any, apis: list[Api], n: int) -> list[Player]:
    from reelflow.playback_api.auth.auth import mint_dev_token
    from reelflow.playback_api.auth.auth_config import dev_token_secret

    secret = dev_token_secret(settings.secrets().signing_secret)
    out = []
    for i in range(n):
        # The device claim lets a player's new start take over its own device's lease.
        token = mint_dev_token(
            secret,
            sub=f"soak-{i}",
            plan="premium",
            country="US",
            device=f"soak-dev-{i}",
            issuer=settings.auth_issuer,
            audience=settings.auth_audience,
            ttl_s=86400,
        )
        auth = {"Authorization": f"Bearer {token}"}
        out.append(Player(apis[i % len(apis)].url, auth, f"soak-dev-{i}"))
    return out


async def outage(
    name: str, server: Redis | Postgres, at: float, down: float, t0: float, log: list[Outage]
) -> None:
    await asyncio.sleep(max(0.0, t0 + at - time.perf_counter()))
    stopping = time.perf_counter() - t0
    print(f"  {stopping:7.1f} s  {name}: stop", flush=True)
    await asyncio.to_thread(server.stop)
    await asyncio.sleep(down)
    await asyncio.to_thread(server.start)
    back = time.perf_counter() - t0
    print(f"  {back:7.1f} s  {name}: accepting connections again", flush=True)
    log.append(Outage(name, stopping, back))


async def sample_rss(
    apis: list[Api], t0: float, seconds: float, out: list[tuple[float, int]]
) -> None:
    while (now := time.perf_counter() - t0) < seconds:
        out.append((now, sum(api.rss_kib() for api in apis)))
        await asyncio.sleep(RSS_EVERY_S)


async def soak(
    opts: argparse.Namespace, load: Load, apis: list[Api], redis: Redis, pg: Postgres
) -> tuple[list[Outage], list[tuple[float, int]]]:
    seconds = opts.minutes * 60
    outages: list[Outage] = []
    rss: list[tuple[float, int]] = []
    t0 = time.perf_counter()
    await asyncio.gather(
        run_load(load, opts.rate, seconds, t0),
        outage("redis", redis, seconds * opts.redis_at, opts.down, t0, outages),
        outage("postgresql", pg, seconds * opts.pg_at, opts.down, t0, outages),
        sample_rss(apis, t0, seconds, rss),
    )
    return outages, rss


def write(out: Path, summary: dict[str, Any], load: Load) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    with (out / "requests.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["t_s", "op", "status", "problem", "latency_ms", "clean_503", "error"])
        for r in sorted(load.records, key=lambda r: r.t):
            w.writerow(
                [
                    f"{r.t:.3f}",
                    r.op,
                    r.status,
                    r.problem,
                    f"{r.latency_ms:.2f}",
                    int(r.clean),
                    r.error,
                ]
            )


def report(summary: dict[str, Any], opts: argparse.Namespace, load_avg: list[float]) -> None:
    print(
        f"\n{summary['requests']:,} requests in {opts.minutes:g} min at {opts.rate:g}/s, "
        f"{opts.replicas} replica(s); load average during the run (1 min, sampled every "
        f"minute): mean {sum(load_avg) / len(load_avg):.2f}, max {max(load_avg):.2f}"
    )
    rows: dict[tuple[str, str], dict[str, int]] = {}
    for row in summary["statuses"]:
        rows.setdefault((row["phase"], row["op"]), {})[row["status"]] = row["count"]
    for (where, op), counts in rows.items():
        text = "  ".join(f"{s}: {n}" for s, n in sorted(counts.items()))
        print(f"  {where:<26} {op:<10} {text}")
    for o in summary["outages"]:
        print(
            f"{o['name']}: down {o['down_s']} s at {o['down_at_s']} s; last 5xx "
            f"{o['recovery_s']} s after it was back"
        )
    m = summary["rss"]
    print(
        f"API RSS after warm-up: {m.get('start_mib')} -> {m.get('end_mib')} MiB "
        f"(max {m.get('max_mib')}), growth {m['growth_pct']} % (aim <= 5 %)"
    )
    worst = max(summary["windows"], key=lambda x: x["p99_ms"] if x["n"] else 0)
    print(f"p99 per 10 s window: worst {worst['p99_ms']} ms at {worst['t']:.0f} s")
    print(f"failures: {summary['failures']} (of which {summary['shed']} shed as overloaded)")
    for kind, n in summary["failure_kinds"].items():
        print(f"  {n:6d}  {kind}")


def main() -> None:
    opts = options()
    base = Path(tempfile.mkdtemp(prefix="reelflow-soak-"))
    base.chmod(0o755)
    apis: list[Api] = []
    pg = Postgres(base / "pg")
    redis = Redis(base / "redis")
    try:
        pg.start()
        redis.start()
        env, settings, kids = prepare(base, pg, redis.url)
        apis = [Api(env, base / f"api-{n}.log") for n in range(opts.replicas)]
        load = Load(TITLE, kids_b64(kids), players(settings, apis, opts.players))
        print(f"soaking {opts.minutes:g} min at {opts.rate:g} requests/s ...", flush=True)
        load_avg: list[float] = []

        async def with_uptime() -> tuple[list[Outage], list[tuple[float, int]]]:
            async def sample() -> None:
                while True:
                    load_avg.append(os.getloadavg()[0])
                    await asyncio.sleep(60)

            sampler = asyncio.create_task(sample())
            try:
                return await soak(opts, load, apis, redis, pg)
            finally:
                sampler.cancel()

        outages, rss = asyncio.run(with_uptime())
        summary = summarise(
            load.records,
            outages,
            rss,
            seconds=opts.minutes * 60,
            grace=opts.grace,
            warmup_s=opts.warmup,
        )
        summary["options"] = {k: str(v) for k, v in vars(opts).items()}
        summary["load_average"] = load_avg
        write(opts.out or base / "out", summary, load)
        plot(
            summary,
            opts.plot,
            f"soak: {opts.minutes:g} min, {opts.rate:g} req/s, p99 per 10 s window, outages shaded",
        )
        report(summary, opts, load_avg)
        print(f"summary and requests: {opts.out or base / 'out'}; chart: {opts.plot}")
        if summary["failures"] or not summary["verdict"]["memory_within_5pct"]:
            sys.exit(1)
    finally:
        for api in apis:
            api.stop()
        for server in (redis, pg):
            with contextlib.suppress(Exception):  # already down when the run failed mid-outage
                server.stop()
        if opts.out is not None:  # keep the servers' logs beside the summary
            opts.out.mkdir(parents=True, exist_ok=True)
            for log in [*base.glob("api-*.log"), base / "redis/redis.log", base / "pg/pg.log"]:
                with contextlib.suppress(OSError):
                    shutil.copy(log, opts.out / log.name)
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
