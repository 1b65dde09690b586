"""The playback start with three running experiments against none, in one run (for
bench/experiments.py).

One real ``reelflow api`` process (one uvicorn worker, as shipped, its JSON access log on)
on a real Redis and a SQLite catalog holding a published title (tests/fixtures/published.py:
ffmpeg and Shaka Packager, ClearKey). POST /v1/titles/{id}/playback comes at a fixed rate,
open loop, from the raw-socket client of bench/events_ingest.py in its own process (no
coordinated omission: each latency counts from when the request was due). 1,000 accounts
take turns, each token bound to its device (as bench/playback_api.py does) so an account's
next start takes over its own lease; their User-Agent is a desktop Chrome and their country
US, so they fall in the experiments' targets.

After a discarded warm-up (every account's first start), each round measures the start
with no experiment running and with three created and started through the admin API (the
assignment bench's set: an ABR test in layer ``player`` targeted on countries and device
classes, a three-way home-rows test in layer ``recs``, an artwork test on half the traffic;
new keys each round, since keys are never reused), stopped after their measurement; the
rounds alternate which of the two goes first, so drift hits both. A start through the API
reaches its own process at once, so that measurement runs with the three assigned and about
two exposure events appended per start (beside session_start, in the same Redis round
trip). Printed per round and as medians: p50/p99 of each, the time inside the app (access
log) and the ratio.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# After site-packages: bench/packaging.py must not shadow PyPI's packaging (gbstats needs it).
sys.path.append(str(ROOT / "bench"))

import httpx  # noqa: E402
from events_ingest import OPEN_LOOP_CLIENT  # noqa: E402  (bench/, a sibling)

from tests.services import free_port, redis_server, wait_for_port  # noqa: E402

TITLE = "tt-bench"
ACCOUNTS = 1_000
DESKTOP_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120 Safari/537.36"


def _experiments(tag: str) -> list[dict[str, Any]]:
    """bench/experiments.py's three_experiments() as the admin API takes them."""
    common = {"primary_metric": "minutes_watched", "guardrails": ["startup_p90"]}
    eager = {"abr": {"bandwidthDowngradeTarget": 0.95, "bandwidthUpgradeTarget": 0.85}}
    third = 1 / 3
    return [
        {**common, "key": f"abr-ladder-{tag}", "layer": {"name": "player", "end": 0.6},
         "variants": [{"key": "control", "weight": 0.5}, {"key": "eager", "weight": 0.5,
                                                           "config": eager}],
         "target": {"countries": ["US", "DE", "FR", "GB"], "devices": ["desktop", "tv"]}},
        {**common, "key": f"home-rows-{tag}", "layer": "recs",
         "variants": [{"key": k, "weight": third, "config": {"model": k}}
                      for k in ("pop", "als", "bpr")]},
        {**common, "key": f"artwork-policy-{tag}", "target": {"share": 0.5},
         "variants": [{"key": "studio", "weight": 0.5},
                      {"key": "personal", "weight": 0.5, "config": {"art": "personal"}}]},
    ]  # fmt: skip


@dataclass(frozen=True)
class Latency:
    p50_ms: float
    p99_ms: float
    inside_p50_ms: float
    inside_p99_ms: float
    statuses: dict[str, int]

    def row(self, name: str) -> str:
        return (f"  {name:<22} p50 {self.p50_ms:6.2f} ms  p99 {self.p99_ms:7.2f} ms   inside "
                f"the app p50 {self.inside_p50_ms:5.2f} ms  p99 {self.inside_p99_ms:6.2f} ms   "
                f"statuses {self.statuses}")  # fmt: skip


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


@dataclass(frozen=True)
class Api:
    url: str
    log: Path
    admin: str
    requests: list[bytes]  # one raw POST per account, its own token and device


def measure(api: Api, rate: int, seconds: int) -> Latency:
    host, port = api.url.split("://", 1)[1].split(":")
    spec = {"host": host, "port": int(port), "rate": rate, "seconds": seconds,
            "requests": [r.decode("latin-1") for r in api.requests]}  # fmt: skip
    logged = len(api.log.read_text(errors="replace").splitlines())
    done = subprocess.run([sys.executable, "-c", OPEN_LOOP_CLIENT], input=json.dumps(spec),
                          capture_output=True, text=True, timeout=seconds + 120)  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"open-loop client failed: {done.stderr[-2000:]}")
    answer = json.loads(done.stdout)
    inside = [
        float(json.loads(line)["ms"])
        for line in api.log.read_text(errors="replace").splitlines()[logged:]
        if line.startswith('{"msg":"request"') and "/playback" in line
    ]
    latencies = answer["latencies"]
    return Latency(statistics.median(latencies), _p99(latencies), statistics.median(inside),
                   _p99(inside), answer["statuses"])  # fmt: skip


def _admin(api: Api, path: str, body: dict[str, Any] | None = None) -> None:
    headers = {"Authorization": f"Bearer {api.admin}"}
    answer = httpx.post(f"{api.url}/v1/admin/experiments{path}", json=body, headers=headers)
    if answer.status_code not in (200, 201):
        raise RuntimeError(f"admin API refused {path}: {answer.text}")


def exposures_per_start(api: Api, sample: int = 200) -> float:
    """How many experiments a start's answer carries, on average, over ``sample`` accounts."""
    total = 0
    with httpx.Client(base_url=api.url, timeout=10) as client:
        for raw in api.requests[:sample]:
            head, body = raw.decode().split("\r\n\r\n", 1)
            token = next(h for h in head.split("\r\n") if h.startswith("Authorization"))
            headers = {"Authorization": token.split(": ", 1)[1], "User-Agent": DESKTOP_UA,
                       "Content-Type": "application/json"}  # fmt: skip
            answer = client.post(f"/v1/titles/{TITLE}/playback", content=body, headers=headers)
            answer.raise_for_status()
            total += len(answer.json()["experiments"])
    return total / sample


def _with_three(api: Api, tag: str, rate: int, seconds: int, first: bool) -> Latency:
    """Start the three, measure, stop them."""
    for spec in _experiments(tag):
        _admin(api, "", spec)
        _admin(api, f"/{spec['key']}/start")
    if first:
        print(f"  (experiments per start's answer: {exposures_per_start(api):.2f} of 3)")
    measured = measure(api, rate, seconds)
    for spec in _experiments(tag):
        _admin(api, f"/{spec['key']}/stop")
    return measured


def bench_playback_start(rate: int, seconds: int, rounds: int) -> None:
    print(f"\nplayback start, one API process, open loop at {rate}/s for {seconds} s, "
          f"{ACCOUNTS} accounts; rounds alternate which goes first:")  # fmt: skip
    with running_api() as api:
        # Warm-up, discarded: every account's token verified and first lease taken once.
        measure(api, rate, -(-ACCOUNTS // rate) + 1)
        none: list[Latency] = []
        three: list[Latency] = []
        for r in range(rounds):
            order = ("none", "three") if r % 2 == 0 else ("three", "none")
            for which in order:
                if which == "none":
                    none.append(measure(api, rate, seconds))
                    print(none[-1].row(f"no experiment #{r + 1}"), flush=True)
                else:
                    three.append(_with_three(api, f"r{r}", rate, seconds, first=r == 0))
                    print(three[-1].row(f"three experiments #{r + 1}"), flush=True)
    for name, runs in (("no experiment", none), ("three experiments", three)):
        print(f"  median {name:<17} p50 {statistics.median(x.p50_ms for x in runs):6.2f} ms  "
              f"p99 {statistics.median(x.p99_ms for x in runs):7.2f} ms  (inside the app p99 "
              f"{statistics.median(x.inside_p99_ms for x in runs):.2f} ms)")  # fmt: skip
    ratio = statistics.median(b.p99_ms / a.p99_ms for a, b in zip(none, three, strict=True))
    print(f"  p99 three / none, median of the rounds' ratios: {ratio:.2f}x")


@contextmanager
def running_api() -> Iterator[Api]:
    from reelflow.catalog import engine_from_settings
    from reelflow.catalog.db import upgrade
    from reelflow.config import Settings
    from reelflow.playback_api.auth.auth import mint_dev_token
    from reelflow.playback_api.auth.auth_config import dev_token_secret
    from reelflow.storage import LocalStore
    from tests.fixtures.published import make_media, publish_title

    with tempfile.TemporaryDirectory(prefix="reelflow-bench-exp-") as tmp, redis_server() as r:
        base = Path(tmp)
        port = free_port()
        settings = Settings(home=base / "state", redis_url=r, api_port=port)
        settings.ensure_home()
        upgrade(settings.resolved_database_url)
        print("  preparing a published title (ffmpeg + Shaka Packager) ...", flush=True)
        media = make_media(base / "media", ffmpeg=settings.binary("ffmpeg"))
        publish_title(settings, engine_from_settings(settings), LocalStore(
            settings.resolved_store_root), media, packager=settings.binary("packager"),
            title_id=TITLE)  # fmt: skip
        secret = dev_token_secret(settings.secrets().signing_secret)

        def token(sub: str, **extra: Any) -> str:
            return mint_dev_token(secret, sub=sub, plan="premium", country="US", ttl_s=7200,
                                  issuer=settings.auth_issuer, audience=settings.auth_audience,
                                  **extra)  # fmt: skip

        requests = []
        for i in range(ACCOUNTS):
            body = json.dumps({"device_id": f"bench-{i}", "drm": ["clearkey"]})
            requests.append(
                (f"POST /v1/titles/{TITLE}/playback HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                 f"Authorization: Bearer {token(f'viewer-{i}', device=f'bench-{i}')}\r\n"
                 f"User-Agent: {DESKTOP_UA}\r\nContent-Type: application/json\r\n"
                 f"Content-Length: {len(body)}\r\n\r\n{body}").encode()
            )  # fmt: skip
        env = {**os.environ, "REELFLOW_HOME": str(settings.home), "REELFLOW_REDIS_URL": r,
               "REELFLOW_API_PORT": str(port), "REELFLOW_LEASE_TTL_S": "3600",
               "REELFLOW_PLAYBACK_STARTS_PER_MINUTE": "100000000",
               "REELFLOW_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}"}  # fmt: skip
        log = base / "api.log"
        with log.open("wb") as out:
            reelflow = [str(Path(sys.executable).parent / "reelflow"), "api"]
            proc = subprocess.Popen(reelflow, env=env, stdout=out, stderr=subprocess.STDOUT,
                                    cwd=ROOT)  # fmt: skip
            try:
                wait_for_port(port, 30)
                time.sleep(0.2)
                yield Api(f"http://127.0.0.1:{port}", log, token("ops", admin=True), requests)
            finally:
                proc.terminate()
                proc.wait(timeout=15)
