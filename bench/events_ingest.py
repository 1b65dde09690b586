"""POST /v1/events under load beside the bare FastAPI JSON endpoint, in the same run.

Both are real uvicorn processes with one worker on loopback (``reelflow api``, as shipped:
its JSON access log on; the bare app of bench/playback_api.py, whose GET /bare is the
baseline every API figure here is compared with), against a real Redis with the event
log's production persistence (AOF, ``appendfsync everysec``). Each request carries 20
events (progress, qoe, row_impression, search) and an RS256 viewer token of an identity
provider (the API's claims cache keeps verified tokens, as it does for a player sending
its token again); 3,000 accounts take turns, since one account may send 120 batches a
minute. The stream is emptied between runs (no writer runs: it would share the cores).

Printed: (1) saturation, wrk -t1 -c16 from a second process, alternating bare and events
over --rounds rounds: requests/s, p50/p99, the median ratio (aim >= 0.4x) and events/s per
API worker; (2) a fixed 200 requests/s for --rate-seconds, open loop, events then bare:
p50/p99 (aim: p99 <= 10 ms). wrk and the Python client share the 2 cores with the servers,
so each saturation run also prints the server's CPU time per request (/proc/<pid>/stat),
which other load on the machine barely moves: the ratio of the two is the request-rate
ratio each would reach on a core of its own.

    .venv/bin/python bench/events.py --only ingest [--seconds 5] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import jwt  # noqa: E402
import redis  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402
from playback_api import Load, fixed_rate, process, wrk  # noqa: E402  (bench/ is on the path)

from tests.services import free_port, wait_for_port  # noqa: E402

ACCOUNTS = 3_000
EVENTS_PER_REQUEST = 20
ISSUER, AUDIENCE = "bench-idp", "reelflow-playback"


def batch_body() -> str:
    now = datetime.now(UTC).isoformat()

    def event(type_: str, **fields: Any) -> dict[str, Any]:
        return {"id": str(uuid.uuid4()), "type": type_, "ts": now, **fields}

    events = [event("progress", title="tt-bench", position_s=float(i)) for i in range(10)]
    events += [event("qoe", title="tt-bench", startup_ms=420.0, played_ms=30_000.0,
                     rebuffer_count=1, rebuffer_ms=250.0, bandwidth_kbps=8_000.0)
               for _ in range(5)]  # fmt: skip
    events += [event("row_impression", row="new", position=i, titles=["t1", "t2", "t3"])
               for i in range(3)]  # fmt: skip
    events += [event("search", query="space", results=4) for _ in range(2)]
    assert len(events) == EVENTS_PER_REQUEST
    return json.dumps({"events": events})


def tokens(key: rsa.RSAPrivateKey, n: int) -> list[str]:
    now = int(time.time())
    claims = {"plan": "premium", "country": "US", "iss": ISSUER, "aud": AUDIENCE,
              "iat": now, "nbf": now, "exp": now + 3600}  # fmt: skip
    return [
        jwt.encode({**claims, "sub": f"bench-{i}", "jti": secrets.token_hex(8)}, key, "RS256")
        for i in range(n)
    ]


def wrk_rotating(path: Path, body: str, bearer: list[str]) -> Path:
    """A wrk script that POSTs ``body`` with the next account's token on every request."""
    names = ",\n".join(json.dumps(t) for t in bearer)
    path.write_text(
        f"tokens = {{\n{names}\n}}\n"
        f'wrk.method = "POST"\nwrk.body = {json.dumps(body)}\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        "i = math.random(#tokens)\n"
        "request = function()\n"
        "  i = i % #tokens + 1\n"
        '  wrk.headers["Authorization"] = "Bearer " .. tokens[i]\n'
        "  return wrk.format()\n"
        "end\n"
    )
    return path


@contextmanager
def aof_redis(workdir: Path) -> Iterator[str]:
    port = free_port()
    args = ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--dir", str(workdir),
            "--save", "", "--appendonly", "yes", "--appendfsync", "everysec"]  # fmt: skip
    with process(args, port, dict(os.environ), workdir / "redis.log"):
        yield f"redis://127.0.0.1:{port}/0"


@contextmanager
def server(args: list[str], port: int, env: dict[str, str], log: Path) -> Iterator[int]:
    """A server process, up once its port answers; yields its pid."""
    with log.open("wb") as out:
        proc = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
        try:
            wait_for_port(port, 30)
            yield proc.pid
        finally:
            proc.terminate()
            proc.wait(timeout=15)


def cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Servers:
    api: str
    api_pid: int
    bare: str
    bare_pid: int
    redis_url: str


@contextmanager
def servers(base: Path, key: rsa.RSAPrivateKey) -> Iterator[Servers]:
    """The events API, the bare app and Redis, each a real process."""
    from reelflow.catalog.db import upgrade

    pub = base / "idp.pub.pem"
    pub.write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))  # fmt: skip
    with aof_redis(base) as redis_url:
        api_port, bare_port = free_port(), free_port()
        env = {
            **os.environ,
            "REELFLOW_HOME": str(base / "state"),
            "REELFLOW_REDIS_URL": redis_url,
            "REELFLOW_API_PORT": str(api_port),
            "REELFLOW_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
            "REELFLOW_AUTH_PUBLIC_KEY_PATH": str(pub),
            "REELFLOW_AUTH_ISSUER": ISSUER,
            "REELFLOW_AUTH_AUDIENCE": AUDIENCE,
        }
        (base / "state").mkdir()
        upgrade(f"sqlite:///{base / 'state' / 'catalog.db'}")
        uv = [sys.executable, "-m", "uvicorn", "--host", "127.0.0.1", "--no-access-log",
              "--log-level", "warning", "--port", str(bare_port),
              "bench.playback_api:bare_app"]  # fmt: skip
        api = [str(Path(sys.executable).parent / "reelflow"), "api"]
        with (
            server(api, api_port, env, base / "api.log") as api_pid,
            server(uv, bare_port, env, base / "bare.log") as bare_pid,
        ):
            yield Servers(f"http://127.0.0.1:{api_port}", api_pid,
                          f"http://127.0.0.1:{bare_port}/bare", bare_pid, redis_url)  # fmt: skip


def measured(url: str, pid: int, seconds: int, script: Path | None = None) -> tuple[Load, float]:
    """A wrk run, and the server's CPU milliseconds per request during it."""
    before = cpu_s(pid)
    load = wrk(url, seconds, script=script)
    return load, (cpu_s(pid) - before) * 1000 / max(1.0, load.rps * seconds)


def saturation(opts: argparse.Namespace, run: Servers, script: Path, client: redis.Redis) -> None:
    from reelflow.events.log import STREAM

    ratios, cpu_ratios, rates = [], [], []
    for n in range(opts.rounds):
        base, base_cpu = measured(run.bare, run.bare_pid, opts.seconds)
        client.delete(STREAM)
        events, cpu = measured(f"{run.api}/v1/events", run.api_pid, opts.seconds, script)
        appended = int(client.xlen(STREAM))
        print(base.row(f"bare GET /bare #{n + 1}") + f"  CPU {base_cpu:.2f} ms/req")
        print(events.row(f"POST /v1/events #{n + 1}", base) + f"  CPU {cpu:.2f} ms/req")
        print(f"{'':<34} {events.rps * EVENTS_PER_REQUEST:9,.0f} events/s  "
              f"(appended {appended:,}, {appended / EVENTS_PER_REQUEST:,.0f} batches)")  # fmt: skip
        ratios.append(events.rps / base.rps)
        cpu_ratios.append(base_cpu / cpu)
        rates.append((events.rps * EVENTS_PER_REQUEST, EVENTS_PER_REQUEST * 1000 / cpu))
        client.delete(STREAM)
    ratio, by_cpu = statistics.median(ratios), statistics.median(cpu_ratios)
    print(f"{'median ratio':<34} {ratio:.2f}x over {opts.rounds} rounds; "
          f"by server CPU per request {by_cpu:.2f}x (aim >= 0.4x)")  # fmt: skip
    measured_rate = statistics.median(r for r, _ in rates)
    own_core = statistics.median(c for _, c in rates)
    print(f"{'events/s per API worker':<34} {measured_rate:9,.0f} measured; "
          f"{own_core:,.0f} with a core to itself")  # fmt: skip


def steady(opts: argparse.Namespace, run: Servers, body: str, bearer: list[str]) -> None:
    rate = opts.ingest_rate
    reqs = [
        {"name": "events", "method": "POST", "url": f"{run.api}/v1/events", "body": body,
         "headers": {"Authorization": f"Bearer {bearer[i % len(bearer)]}",
                     "Content-Type": "application/json"}}
        for i in range(rate * opts.rate_seconds)
    ]  # fmt: skip
    print(f"\nfixed rate: {rate} req/s for {opts.rate_seconds} s, open loop")
    events: Load = fixed_rate(rate, opts.rate_seconds, reqs)["events"]
    print(events.row("POST /v1/events (20 events)") + "  (aim: p99 <= 10 ms)")
    plain = [{"name": "bare", "method": "GET", "url": run.bare, "headers": {}, "body": ""}]
    print(fixed_rate(rate, opts.rate_seconds, plain)["bare"].row("bare GET /bare"))


def bench_ingest(opts: argparse.Namespace) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    bearer = tokens(key, ACCOUNTS)
    body = batch_body()
    with tempfile.TemporaryDirectory(prefix="reelflow-bench-ingest-") as tmp:
        base = Path(tmp)
        script = wrk_rotating(base / "events.lua", body, bearer)
        with servers(base, key) as run:
            client = redis.Redis.from_url(run.redis_url)
            print(f"saturation: wrk -t1 -c16 -d{opts.seconds}s from a second process "
                  f"(shares the 2 cores), {len(body):,}-byte batches of 20 events")  # fmt: skip
            saturation(opts, run, script, client)
            steady(opts, run, body, bearer)
