"""One API worker past its capacity: where the knee is, and what admission control does at
twice it (docs/performance.md, "Overload"; docs/deployment.md, "Overload").

One real uvicorn worker of the embedded stack (`reelflow api`, a real Redis, a published
title) gets open-loop load (bench/overload_client.py: Poisson arrivals, timed from when each
request was due, from --clients processes) on the player mix: playback start, the session's
DASH manifest and a ClearKey license, in turn. Printed:

1. Steps: the rate grows by --factor from --start while the step is sustainable (accepted
   p99 <= --p99-ms, under 1% refused, nothing failed); the last such rate is the knee.
2. At twice the knee, --hold-seconds with admission control on and then off (a fresh server
   with REELFLOW_API_ADMISSION=false): accepted p99, refused (503) fraction, the p99 of the
   refusals (time to shed), goodput, and the load average.

The client shares the machine's cores with the server (the load average is printed beside
every figure): on a busy machine the knee is lower, the shape is the same; `setsid ...
--nice -10` (as root) lets the run take its share first.

    .venv/bin/python bench/overload.py [--start 100] [--factor 1.4] [--step-seconds 8]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from playback_api import process, redis_server  # noqa: E402

from tests.services import free_port  # noqa: E402

CLIENT = ROOT / "bench" / "overload_client.py"
MAX_STEPS = 12
# Answers to requests due in a run's first second are not counted: the clients are opening
# their connections then (each new one a handshake with the server), not measuring it.
SETTLE_S = 1.0


@dataclass
class Step:
    rate: float
    seconds: float
    ok: list[float]  # latencies (ms) of 2xx answers
    shed: list[float]  # of 503/429 answers
    failed: int  # other statuses, connection errors, timeouts
    late_p99_ms: float  # how late the client itself sent (its own health)
    load: str
    kinds: dict[str, list[float]] = field(default_factory=dict)  # 2xx latencies per kind
    failures: dict[str, int] = field(default_factory=dict)  # "kind status" -> count

    def detail(self) -> str:
        per_kind = ", ".join(f"{k} p99 {pct(v, 99):.1f}" for k, v in self.kinds.items())
        failed = ", ".join(f"{k}: {n}" for k, n in sorted(self.failures.items()))
        return f"{'':<22} {per_kind} ms" + (f"; failed {failed}" if failed else "")

    @property
    def total(self) -> int:
        return len(self.ok) + len(self.shed) + self.failed

    @property
    def shed_fraction(self) -> float:
        return len(self.shed) / self.total if self.total else 0.0

    def row(self, label: str) -> str:
        return (
            f"{label:<22} {self.rate:>7.0f}/s  "
            f"goodput {len(self.ok) / (self.seconds - SETTLE_S):>7.0f}/s  "
            f"p50 {pct(self.ok, 50):>7.1f}  p99 {pct(self.ok, 99):>8.1f} ms  "
            f"refused {self.shed_fraction:>6.1%} (p99 {pct(self.shed, 99):>6.1f} ms)  "
            f"failed {self.failed:>5}  client late p99 {self.late_p99_ms:>6.1f} ms  "
            f"load {self.load}"
        )


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))]


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def offer(port: int, requests: list[dict[str, Any]], rate: float, seconds: float,
          clients: int) -> Step:  # fmt: skip
    """``rate`` requests/s for ``seconds`` from ``clients`` processes (each rate/clients:
    Poisson streams add up to a Poisson stream)."""
    procs = []
    outdir = Path(tempfile.mkdtemp(prefix="reelflow-overload-client-"))
    for n in range(clients):
        spec = {"host": "127.0.0.1", "port": port, "requests": requests, "seed": n + 1,
                "rate": rate / clients, "seconds": seconds,
                "out": str(outdir / f"{n}.json")}  # fmt: skip
        proc = subprocess.Popen([sys.executable, str(CLIENT)], stdin=subprocess.PIPE, text=True)
        assert proc.stdin is not None
        proc.stdin.write(json.dumps(spec))
        proc.stdin.close()
        procs.append(proc)
    step = Step(rate, seconds, [], [], 0, 0.0, "")
    late: list[float] = []
    for n, proc in enumerate(procs):
        if proc.wait(timeout=seconds + 120) != 0:
            sys.exit(f"load client {n} failed")
        out = json.loads((outdir / f"{n}.json").read_text())
        step.failed += out["timeouts"]
        if out["timeouts"]:
            step.failures["unanswered"] = step.failures.get("unanswered", 0) + out["timeouts"]
        late += out["late_ms"]
        for kind, answers in out["results"].items():
            for status, ms, due_s in answers:
                if due_s < SETTLE_S:
                    continue
                if 200 <= status < 300:
                    step.ok.append(ms)
                    step.kinds.setdefault(kind, []).append(ms)
                elif status in (429, 503):
                    step.shed.append(ms)
                else:
                    step.failed += 1
                    key = f"{kind} {status}"
                    step.failures[key] = step.failures.get(key, 0) + 1
    shutil.rmtree(outdir, ignore_errors=True)
    step.late_p99_ms, step.load = pct(late, 99), load_average()
    return step


def warm_up(port: int, mix: list[dict[str, Any]]) -> None:
    """A few seconds of light load, not counted: caches filled, connections open."""
    offer(port, mix, 50, 3, 1)


def sustainable(step: Step, p99_ms: float) -> bool:
    return step.failed == 0 and step.shed_fraction < 0.01 and pct(step.ok, 99) <= p99_ms


def player_mix(api: str, tokens: tuple[str, str], kids: list[str]) -> list[dict[str, Any]]:
    """Start (on a device the token binds, so each start takes over its own lease), and the
    manifest and license of a session of another device, as bench/playback_api.py does."""
    token, tv_token = tokens
    auth = {"Authorization": f"Bearer {token}"}
    # A device of its own per server run: the last run's session still holds its lease.
    device = f"bench-player-{api.rsplit(':', 1)[1]}"
    body = json.dumps({"device_id": device, "drm": ["clearkey"]}).encode()
    req = urllib.request.Request(f"{api}/v1/titles/tt-bench/playback", data=body,
                                 headers={**auth, "Content-Type": "application/json"})  # fmt: skip
    with urllib.request.urlopen(req, timeout=10) as resp:
        session = json.loads(resp.read())
    kid_b64 = [base64.urlsafe_b64encode(bytes.fromhex(k)).rstrip(b"=").decode() for k in kids]

    def target(url: str) -> str:
        return "/" + url.split("://", 1)[1].split("/", 1)[1]  # path and query

    return [
        {"name": "start", "method": "POST", "target": "/v1/titles/tt-bench/playback",
         "headers": {"Authorization": f"Bearer {tv_token}"},
         "body": json.dumps({"device_id": "bench-tv", "drm": ["clearkey"]})},
        {"name": "manifest", "method": "GET", "target": target(session["manifests"]["dash"])},
        {"name": "license", "method": "POST", "target": target(session["licenses"]["clearkey"]),
         "headers": auth, "body": json.dumps({"kids": kid_b64, "type": "temporary"})},
    ]  # fmt: skip


def find_knee(port: int, mix: list[dict[str, Any]], opts: argparse.Namespace) -> float:
    print(f"\nsteps: {opts.step_seconds} s each, admission control on, "
          f"{opts.clients} client processes")  # fmt: skip
    warm_up(port, mix)
    knee, rate = 0.0, float(opts.start)
    for _ in range(MAX_STEPS):
        step = offer(port, mix, rate, opts.step_seconds, opts.clients)
        good = sustainable(step, opts.p99_ms)
        print(step.row("sustainable" if good else "past the knee"), flush=True)
        print(step.detail(), flush=True)
        if not good:
            break
        knee, rate = rate, rate * opts.factor
    return knee


def at_twice(api_env: dict[str, str], base: Path, mix_of: Any, knee: float,
             opts: argparse.Namespace) -> None:  # fmt: skip
    rate = 2 * knee
    print(f"\nat twice the knee ({rate:.0f} req/s) for {opts.hold_seconds} s, on vs off")
    for label, admission in (("admission on", "true"), ("admission off", "false")):
        port = free_port()
        env = {**api_env, "REELFLOW_API_PORT": str(port), "REELFLOW_API_ADMISSION": admission}
        with api_server(env, port, base / f"api-{admission}.log"):
            mix = mix_of(f"http://127.0.0.1:{port}")
            warm_up(port, mix)
            step = offer(port, mix, rate, opts.hold_seconds, opts.clients)
        print(step.row(label), flush=True)
        print(step.detail(), flush=True)


def api_server(env: dict[str, str], port: int, log: Path) -> Any:
    return process([str(Path(sys.executable).parent / "reelflow"), "api"], port, env, log)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--start", type=float, default=100, help="first step's requests/s")
    parser.add_argument("--factor", type=float, default=1.4, help="rate growth per step")
    parser.add_argument("--step-seconds", type=float, default=8)
    parser.add_argument("--hold-seconds", type=float, default=20, help="each run at 2x knee")
    parser.add_argument("--clients", type=int, default=2, help="load processes")
    parser.add_argument("--p99-ms", type=float, default=50, help="sustainable: p99 at most")
    parser.add_argument("--knee", type=float, help="skip the steps: use this knee")
    parser.add_argument("--nice", type=int, default=0, help="niceness of this run (root may "
                        "go below 0: the server and clients then yield less to other jobs "
                        "sharing the machine; every process of the run inherits it)")  # fmt: skip
    opts = parser.parse_args()
    if opts.nice:
        os.nice(opts.nice)
        # With autogroup scheduling nice counts only among one session's processes; the
        # group's own nice sets its share against the other sessions (run it under setsid).
        with contextlib.suppress(OSError):
            Path("/proc/self/autogroup").write_text(str(opts.nice))
    if shutil.which("redis-server") is None:
        sys.exit("redis-server missing (./deploy/dev.sh install test)")
    base = Path(tempfile.mkdtemp(prefix="reelflow-bench-overload-"))
    try:
        with redis_server(base) as redis_url:
            run(opts, base, redis_url)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def run(opts: argparse.Namespace, base: Path, redis_url: str) -> None:
    from reelflow.catalog import engine_from_settings
    from reelflow.catalog.db import upgrade
    from reelflow.config import Settings
    from reelflow.playback_api.auth.auth import mint_dev_token
    from reelflow.playback_api.auth.auth_config import dev_token_secret
    from reelflow.storage import LocalStore
    from tests.fixtures.published import make_media, publish_title

    settings = Settings(home=base / "state", redis_url=redis_url)
    settings.ensure_home()
    upgrade(settings.resolved_database_url)
    print("preparing a published title (ffmpeg + Shaka Packager) ...", flush=True)
    media = make_media(base / "media", ffmpeg=settings.binary("ffmpeg"))
    title = publish_title(settings, engine_from_settings(settings),
                          LocalStore(settings.resolved_store_root), media,
                          packager=settings.binary("packager"), title_id="tt-bench")  # fmt: skip
    secret = dev_token_secret(settings.secrets().signing_secret)

    def token(device: str | None = None) -> str:
        return mint_dev_token(secret, sub="bench", plan="premium", country="US", ttl_s=3600,
                              issuer=settings.auth_issuer, audience=settings.auth_audience,
                              device=device)  # fmt: skip

    tokens = (token(), token("bench-tv"))
    kids = [title.kid(c) for c in ("SD", "HD", "AUDIO")]
    api_env = {
        **os.environ,
        "REELFLOW_HOME": str(base / "state"),
        "REELFLOW_REDIS_URL": redis_url,
        # One account starts sessions and asks licenses thousands of times a minute.
        "REELFLOW_LICENSE_RATE_PER_MINUTE": "100000000",
        "REELFLOW_PLAYBACK_STARTS_PER_MINUTE": "100000000",
        "REELFLOW_LEASE_TTL_S": "3600",
        "REELFLOW_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
    }

    def mix_of(api: str) -> list[dict[str, Any]]:
        return player_mix(api, tokens, kids)

    print(f"load average before: {load_average()}")
    knee = opts.knee
    if knee is None:
        port = free_port()
        env = {**api_env, "REELFLOW_API_PORT": str(port)}
        with api_server(env, port, base / "api-steps.log"):
            knee = find_knee(port, mix_of(f"http://127.0.0.1:{port}"), opts)
    if not knee:
        sys.exit("not even the first step was sustainable: lower --start")
    print(f"knee (sustainable rate): {knee:.0f} req/s")
    at_twice(api_env, base, mix_of, knee, opts)


if __name__ == "__main__":
    main()
