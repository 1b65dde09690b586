"""GET /v1/me/home under load, beside a bare FastAPI JSON endpoint served the same way in the
same run.

Real processes on loopback: Redis, one ``reelflow api`` (one uvicorn worker, as shipped, its
JSON access log on) and bench/playback_api.py's bare app (uvicorn, ``GET /bare`` answering
``{"ok": true}``). The catalog (SQLite) holds ``--titles`` published titles in eight genres,
written as catalog rows with artwork paths (the home reads rows, never media, so nothing is
packaged). A synthetic watch history (``--viewers`` viewers, two favourite genres each, a
popularity skew) trains the production model (recs/training.train_candidate), stored and
promoted in the object store, and every viewer's lists are precomputed into Redis
(recs/precompute.precompute_rows), as a training run leaves them. The API reads those
through its real reader; the first request of each account is a discarded warm-up.

Printed:

1. Saturation (wrk, 16 connections, each request the next account's token): requests/s and
   p50/p99 of the home and of the bare endpoint, alternating over ``--rounds`` rounds, and
   the median ratio (aim >= 0.5x).
2. Fixed rate (``--rate``/s for ``--rate-seconds``, open loop, bench/events_ingest.py's raw
   socket client): p50/p99 of the home (aim p99 <= 15 ms at 200/s), the time inside the app
   from its access log, and the bare endpoint at the same rate.

    .venv/bin/python bench/home.py [--seconds 5] [--rounds 3] [--rate 200] [--limit 20]

Needs wrk and redis-server, as bench/playback_api.py does.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# After site-packages: bench/packaging.py must not shadow PyPI's packaging.
sys.path.append(str(ROOT / "bench"))

import httpx  # noqa: E402
from events_ingest import open_loop, server  # noqa: E402  (bench/, a sibling)
from playback_api import wrk  # noqa: E402

from tests.services import free_port, redis_server  # noqa: E402

GENRES = ("drama", "comedy", "scifi", "thriller", "documentary", "animation", "horror", "romance")
ACCOUNTS = 1_000  # the viewers whose tokens take turns (all with precomputed lists)
PLAYS_PER_VIEWER = 15


@dataclass(frozen=True)
class Run:
    api: str
    bare: str
    log: Path
    tokens: list[str]


def seed_catalog(settings: Any, titles: int) -> list[tuple[str, tuple[str, ...]]]:
    """``titles`` published titles (catalog rows only), one or two genres each."""
    from reelflow.catalog import engine_from_settings
    from reelflow.catalog.db import session_scope
    from reelflow.catalog.models import Availability, Package, Title, TitleState

    rng = np.random.default_rng(7)
    made: list[tuple[str, tuple[str, ...]]] = []
    now = datetime.now(UTC)
    with session_scope(engine_from_settings(settings)) as s:
        for n in range(titles):
            title_id = f"tt-{n:04d}"
            picked = rng.choice(len(GENRES), size=int(rng.integers(1, 3)), replace=False)
            genres = tuple(GENRES[g] for g in picked)
            made.append((title_id, genres))
            s.add(Title(id=title_id, name=f"Title {n}", synopsis="A bench title.",
                        genres=list(genres), version=1, state=TitleState.PUBLISHED,
                        duration_s=5400.0))  # fmt: skip
        s.flush()  # the titles first: the rows below reference them
        for n, (title_id, _) in enumerate(made):
            s.add(Availability(title_id=title_id, regions=[], plans=[]))
            origin = f"origin/{title_id}/v1"
            s.add(Package(title_id=title_id, version=1, origin_prefix=origin,
                          mpd_key=f"{origin}/manifest.mpd", hls_key=f"{origin}/master.m3u8",
                          encrypted=False, drm_systems=[], kids={}, representations=[],
                          artwork={"poster": ["art/poster_600x900.jpg"],
                                   "backdrop": ["art/backdrop_1280x720.jpg"]},
                          published_at=now - timedelta(minutes=n)))  # fmt: skip
    return made


def train(settings: Any, redis_url: str, titles: list[tuple[str, tuple[str, ...]]],
          viewers: int) -> None:  # fmt: skip
    """Train the production model on a synthetic history, promote it, precompute rows."""
    import redis

    from reelflow.events.pseudonym import pseudonym_key, viewer_pseudonym
    from reelflow.recs.interactions import ItemCatalog, build_dataset
    from reelflow.recs.model_store import ModelStore
    from reelflow.recs.precompute import precompute_rows
    from reelflow.recs.training import train_candidate
    from reelflow.storage import store_from_settings

    rng = np.random.default_rng(11)
    ids = [t for t, _ in titles]
    by_genre = {g: [i for i, (_, gs) in enumerate(titles) if g in gs] for g in GENRES}
    appeal = rng.zipf(1.6, size=len(ids)).astype(float)
    key = pseudonym_key(settings.secrets().signing_secret)
    users, items, times, weights = [], [], [], []
    t0 = int(datetime.now(UTC).timestamp()) - 30 * 86400
    for v in range(viewers):
        liked = rng.choice(len(GENRES), size=2, replace=False)
        pool = sorted({i for g in liked for i in by_genre[GENRES[g]]})
        p = appeal[pool] / appeal[pool].sum()
        for k, i in enumerate(rng.choice(pool, size=PLAYS_PER_VIEWER, replace=False, p=p)):
            users.append(viewer_pseudonym(key, f"viewer-{v}"))
            items.append(ids[int(i)])
            times.append(t0 + v * 60 + k * 3600)
            weights.append(float(rng.uniform(0.3, 1.0)))
    n = len(ids)
    catalog = ItemCatalog(tuple(ids), tuple(ids), tuple(g for _, g in titles), (None,) * n,
                          (None,) * n, ((),) * n)  # fmt: skip
    data = build_dataset(users, items, times, weights, catalog, {u: "US" for u in users})
    candidate = train_candidate(data, None)
    models = ModelStore(store_from_settings(settings))
    models.promote(models.save(candidate.model, candidate.stored_metrics()))
    written = precompute_rows(redis.Redis.from_url(redis_url), candidate.model, data, 0, 86400)
    print(f"  model trained in {candidate.facts['train_seconds']} s on {len(users):,} plays "
          f"({viewers:,} viewers, {n} titles); nDCG@10 {candidate.metrics.ndcg:.3f}; "
          f"{written:,} viewers' lists precomputed", flush=True)  # fmt: skip


@contextmanager
def running(opts: argparse.Namespace) -> Iterator[Run]:
    from reelflow.catalog.db import upgrade
    from reelflow.config import Settings
    from reelflow.playback_api.auth.auth import mint_dev_token
    from reelflow.playback_api.auth.auth_config import dev_token_secret

    with tempfile.TemporaryDirectory(prefix="reelflow-bench-home-") as tmp, redis_server() as r:
        base = Path(tmp)
        api_port, bare_port = free_port(), free_port()
        settings = Settings(home=base / "state", redis_url=r, api_port=api_port)
        settings.ensure_home()
        upgrade(settings.resolved_database_url)
        titles = seed_catalog(settings, opts.titles)
        train(settings, r, titles, opts.viewers)
        secret = dev_token_secret(settings.secrets().signing_secret)
        tokens = [
            mint_dev_token(secret, sub=f"viewer-{i}", plan="premium", country="US", ttl_s=7200,
                           issuer=settings.auth_issuer, audience=settings.auth_audience)
            for i in range(min(ACCOUNTS, opts.viewers))
        ]  # fmt: skip
        env = {**os.environ, "REELFLOW_HOME": str(settings.home), "REELFLOW_REDIS_URL": r,
               "REELFLOW_API_PORT": str(api_port),
               "REELFLOW_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}"}  # fmt: skip
        uv = [sys.executable, "-m", "uvicorn", "--host", "127.0.0.1", "--no-access-log",
              "--log-level", "warning", "--port", str(bare_port),
              "bench.playback_api:bare_app"]  # fmt: skip
        api = [str(Path(sys.executable).parent / "reelflow"), "api"]
        with (
            server(api, api_port, env, base / "api.log"),
            server(uv, bare_port, env, base / "bare.log"),
        ):
            yield Run(f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{bare_port}/bare",
                      base / "api.log", tokens)  # fmt: skip


def warm(run: Run, target: str) -> tuple[dict[str, Any], int]:
    """Every account's first home, one at a time (discarded); the last answer and its size."""
    answer: dict[str, Any] = {}
    size = 0
    with httpx.Client(base_url=run.api, timeout=30) as client:
        for token in run.tokens:
            r = client.get(target, headers={"Authorization": f"Bearer {token}"})
            r.raise_for_status()
            answer, size = r.json(), len(r.content)
    return answer, size


def wrk_home(path: Path, target: str, tokens: list[str]) -> Path:
    names = ",\n".join(json.dumps(t) for t in tokens)
    path.write_text(
        f"tokens = {{\n{names}\n}}\n"
        "i = math.random(#tokens)\n"
        "request = function()\n"
        "  i = i % #tokens + 1\n"
        f'  return wrk.format("GET", "{target}", {{Authorization = "Bearer " .. tokens[i]}})\n'
        "end\n"
    )
    return path


def saturation(opts: argparse.Namespace, run: Run, target: str) -> None:
    script = wrk_home(run.log.parent / "home.lua", target, run.tokens)
    ratios = []
    for n in range(opts.rounds):
        bare = wrk(run.bare, opts.seconds)
        home = wrk(f"{run.api}{target}", opts.seconds, script=script)
        print(bare.row(f"bare GET /bare #{n + 1}"))
        print(home.row(f"GET /v1/me/home #{n + 1}", bare), flush=True)
        ratios.append(home.rps / bare.rps)
    print(f"{'median ratio':<34} {statistics.median(ratios):.2f}x over {opts.rounds} rounds "
          "(aim >= 0.5x)")  # fmt: skip


def fixed_rate(opts: argparse.Namespace, run: Run, target: str) -> None:
    raw = [(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {t}\r\n\r\n").encode() for t in run.tokens]  # fmt: skip
    print(f"\nfixed rate: {opts.rate} req/s for {opts.rate_seconds} s, open loop")
    logged = len(run.log.read_text(errors="replace").splitlines())
    home = open_loop(run.api, opts.rate, opts.rate_seconds, raw)
    print(f"{'GET /v1/me/home':<34} {home}  (aim: p99 <= 15 ms)")
    inside = sorted(
        float(json.loads(line)["ms"])
        for line in run.log.read_text(errors="replace").splitlines()[logged:]
        if line.startswith('{"msg":"request"') and "/v1/me/home" in line
    )
    if inside:
        p99 = inside[min(len(inside) - 1, int(len(inside) * 0.99))]
        print(f"{'':<34} inside the app (its access log): p50 {statistics.median(inside):.2f} "
              f"ms  p99 {p99:.2f} ms")  # fmt: skip
    refused: dict[str, int] = {}
    for line in run.log.read_text(errors="replace").splitlines()[logged:]:
        if line.startswith('{"msg":"request"') and '"problem"' in line:
            problem = json.loads(line)["problem"]
            refused[problem] = refused.get(problem, 0) + 1
    if refused:
        print(f"{'':<34} problems answered: {refused}; the log's last lines:")
        print("\n".join(run.log.read_text(errors="replace").splitlines()[-5:]))
    bare = [b"GET /bare HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"]
    print(f"{'bare GET /bare':<34} {open_loop(run.bare, opts.rate, opts.rate_seconds, bare)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=5, help="per wrk run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rate", type=int, default=200)
    parser.add_argument("--rate-seconds", type=int, default=10)
    parser.add_argument("--titles", type=int, default=400)
    parser.add_argument("--viewers", type=int, default=2_000)
    parser.add_argument("--limit", type=int, default=20, help="titles per row")
    parser.add_argument("--genre-rows", type=int, default=6)
    opts = parser.parse_args()
    target = f"/v1/me/home?limit={opts.limit}&genre_rows={opts.genre_rows}"
    with running(opts) as run:
        shape, size = warm(run, target)
        items = sum(len(row["items"]) for row in shape["rows"])
        print(f"  {target}: {len(shape['rows'])} rows, {items} titles, {size / 1024:.0f} KiB, "
              f"model {shape['model']} v{shape['model_version']}", flush=True)  # fmt: skip
        saturation(opts, run, target)
        fixed_rate(opts, run, target)


if __name__ == "__main__":
    main()
