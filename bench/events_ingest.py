"""POST /v1/events under load beside the bare FastAPI JSON endpoint, in the same run.

Both are real uvicorn processes with one worker on loopback (``reelflow api``, as shipped:
its JSON access log on; the bare app of bench/playback_api.py, whose GET /bare is the
baseline every API figure here is compared with), against a real Redis with the event
log's production persistence (AOF, ``appendfsync everysec``). Each request carries 20
events (progress, qoe, row_impression, search) and an RS256 viewer token of an identity
provider (the API's claims cache keeps verified tokens, as it does for a player sending
its token again); 1,500 accounts take turns, since one account may send 120 batches a
minute, each warmed by one batch first (its token verified, its consent mirrored in Redis),
as a player's later batches find them. The stream is emptied between runs (no writer runs:
it would share the cores).

Printed: (1) saturation, wrk -t1 -c16 from a second process, alternating bare and events
over --rounds rounds: requests/s, p50/p99, the median ratio (aim >= 0.4x) and events/s per
API worker; wrk shares the 2 cores with the servers, so each run also prints the server's
CPU time per request (/proc/<pid>/stat), which other load on the machine barely moves: the
ratio of the two is the request-rate ratio each would reach on a core of its own. (2) A
fixed 200 requests/s for --rate-seconds, open loop from a raw-socket client in its own
process, events then bare: p50/p99 and the answers' statuses (aim: p99 <= 10 ms), with the
time spent inside the app (its access log) and the API's CPU use meanwhile.

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
from playback_api import Load, process, wrk  # noqa: E402  (bench/ is on the path)

from tests.services import free_port, wait_for_port  # noqa: E402

ACCOUNTS = 1_500
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
    api_log: Path  # its access log: one JSON line per request, with the time spent inside


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
                          f"http://127.0.0.1:{bare_port}/bare", bare_pid, redis_url,
                          base / "api.log")  # fmt: skip


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


# Open loop over raw keep-alive connections, from its own process: each request is due at
# start + i / rate and its latency counts from then (no coordinated omission); a request
# finding no idle connection opens one. Lighter than an HTTP client library, which at
# these rates is itself the bottleneck on 2 shared cores.
OPEN_LOOP_CLIENT = r"""
import asyncio, json, sys, time

async def main(spec):
    host, port, rate, seconds = spec["host"], spec["port"], spec["rate"], spec["seconds"]
    payloads = [r.encode("latin-1") for r in spec["requests"]]
    idle, latencies, statuses = [], [], {}

    async def send(conn, payload):
        reader, writer = conn
        writer.write(payload)
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        await reader.readexactly(length)
        return head.split(b" ", 2)[1].decode()

    async def one(i, due):
        payload = payloads[i % len(payloads)]
        status = "error"
        for attempt in (1, 2):  # a kept-alive connection the server closed: once more, fresh
            fresh = attempt == 2 or not idle
            conn = await asyncio.open_connection(host, port) if fresh else idle.pop()
            try:
                status = await send(conn, payload)
                idle.append(conn)
                break
            except (OSError, asyncio.IncompleteReadError):
                conn[1].close()
        latencies.append((time.perf_counter() - due) * 1000)
        statuses[status] = statuses.get(status, 0) + 1

    start, tasks = time.perf_counter() + 0.05, []
    for i in range(int(rate * seconds)):
        due = start + i / rate
        if (delay := due - time.perf_counter()) > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i, due)))
    await asyncio.gather(*tasks)
    print(json.dumps({"latencies": latencies, "statuses": statuses}))

asyncio.run(main(json.loads(sys.stdin.read())))
"""


def open_loop(url: str, rate: int, seconds: int, requests: list[bytes]) -> str:
    """p50/p99 and the answers' statuses of ``rate`` requests/s for ``seconds``."""
    host, port = url.split("://", 1)[1].split("/", 1)[0].split(":")
    spec = {"host": host, "port": int(port), "rate": rate, "seconds": seconds,
            "requests": [r.decode("latin-1") for r in requests]}  # fmt: skip
    done = subprocess.run([sys.executable, "-c", OPEN_LOOP_CLIENT], input=json.dumps(spec),
                          capture_output=True, text=True)  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"open-loop client failed: {done.stderr[-2000:]}")
    answer = json.loads(done.stdout)
    values = sorted(answer["latencies"])
    p99 = values[min(len(values) - 1, int(len(values) * 0.99))]
    return (f"p50 {statistics.median(values):7.2f} ms  p99 {p99:8.2f} ms  "
            f"statuses {answer['statuses']}")  # fmt: skip


def steady(opts: argparse.Namespace, run: Servers, body: str, bearer: list[str]) -> None:
    rate = opts.ingest_rate
    post = [
        (f"POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
         f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n{body}").encode()
        for token in bearer
    ]  # fmt: skip
    print(f"\nfixed rate: {rate} req/s for {opts.rate_seconds} s, open loop")
    cpu0, t0 = cpu_s(run.api_pid), time.perf_counter()
    logged = len(run.api_log.read_text(errors="replace").splitlines())
    events = open_loop(run.api, rate, opts.rate_seconds, post)
    busy = (cpu_s(run.api_pid) - cpu0) / (time.perf_counter() - t0)
    print(f"{'POST /v1/events (20 events)':<34} {events}  (aim: p99 <= 10 ms)")
    inside = sorted(
        json.loads(line)["ms"]
        for line in run.api_log.read_text(errors="replace").splitlines()[logged:]
        if line.startswith('{"msg":"request"')
    )
    if inside:
        print(f"{'':<34} inside the app (its access log): p50 {statistics.median(inside):.2f} ms"
              f"  p99 {inside[int(len(inside) * 0.99)]:.2f} ms; the API process used "
              f"{busy:.0%} of a core")  # fmt: skip
    bare = [b"GET /bare HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"]
    print(f"{'bare GET /bare':<34} {open_loop(run.bare, rate, opts.rate_seconds, bare)}")


def warm(run: Servers, body: str, bearer: list[str]) -> None:
    """One batch per account, one at a time: what a player's first batch pays once."""
    import httpx

    with httpx.Client(timeout=10) as client:
        for token in bearer:
            answer = client.post(f"{run.api}/v1/events", content=body,
                                 headers={"Authorization": f"Bearer {token}",
                                          "Content-Type": "application/json"})  # fmt: skip
            answer.raise_for_status()


def bench_ingest(opts: argparse.Namespace) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    bearer = tokens(key, ACCOUNTS)
    body = batch_body()
    with tempfile.TemporaryDirectory(prefix="reelflow-bench-ingest-") as tmp:
        base = Path(tmp)
        script = wrk_rotating(base / "events.lua", body, bearer)
        with servers(base, key) as run:
            client = redis.Redis.from_url(run.redis_url)
            t0 = time.perf_counter()
            warm(run, body, bearer)
            print(f"warm-up: one batch from each of {len(bearer):,} accounts in "
                  f"{time.perf_counter() - t0:.1f} s")  # fmt: skip
            print(f"saturation: wrk -t1 -c16 -d{opts.seconds}s from a second process "
                  f"(shares the 2 cores), {len(body):,}-byte batches of 20 events")  # fmt: skip
            saturation(opts, run, script, client)
            steady(opts, run, body, bearer)
