"""Playback API under load, each figure beside a baseline served the same way in the same run.

Everything runs on loopback with bounded duration: the servers are real processes (uvicorn
with one worker, nginx), the load comes from a second process (wrk for saturation; a
Python open-loop client at a fixed rate for latency), and both share the machine's cores,
so absolute numbers understate a dedicated host. Printed:

1. Saturation (wrk, 16 connections): requests/s and p50/p99 of POST .../playback, the DASH
   manifest GET and the ClearKey license, each alternating with a bare FastAPI JSON
   endpoint over --rounds rounds; the median ratio.
2. Fixed rate (200 requests/s for N s, open loop): p50/p99 of the same three operations.
3. Segments: the embedded origin vs a plain Starlette FileResponse of the same file, and the
   nginx edge (secure_link) vs nginx serving the same files unsigned.

Beside each saturation run, the server's CPU time per request (its process and children,
from /proc): on a machine whose other load varies, the ratio of CPU per request (baseline
over candidate) is the steadier reading of the same per-worker ratio.

``--server`` serves both the API and the baseline the same way: ``uvicorn`` (as ``reelflow
api`` runs it), ``uvicorn-h11`` (uvicorn's pure-Python asyncio loop and h11 parser, its
default without uvloop and httptools) or ``granian`` (Rust HTTP server, ASGI interface, one
worker, uvloop).

    .venv/bin/python bench/playback_api.py [--seconds 5] [--rate 200] [--server uvicorn]

Needs wrk (apt-get install wrk; ./deploy/dev.sh install test installs it), redis-server,
nginx, ffmpeg and the npm Shaka Packager, as the test suite does.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
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
sys.path.insert(0, str(ROOT))

from fastapi import FastAPI  # noqa: E402
from starlette.responses import FileResponse  # noqa: E402

from tests.services import free_port, wait_for_port  # noqa: E402

# ---- the baseline app (served by its own uvicorn process) ------------------------------------

bare_app = FastAPI()
_FILE_ROOT = Path(os.environ.get("BENCH_FILE_ROOT", "/nonexistent"))


@bare_app.get("/bare")
async def bare() -> dict[str, bool]:
    return {"ok": True}


@bare_app.get("/file/{path:path}")
async def plain_file(path: str) -> FileResponse:
    return FileResponse(_FILE_ROOT / path)


def json_logged_api() -> FastAPI:
    """The API as ``reelflow api`` builds it (JSON logs), for the other servers' factories."""
    from reelflow.playback_api.http.app import create_app
    from reelflow.playback_api.http.observability import configure_json_logging

    configure_json_logging()
    return create_app()


# ---- load tools --------------------------------------------------------------------------------

_SERVER_PIDS: dict[int, int] = {}  # port -> pid of the server process started on it


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of a process and its descendants (granian's workers)."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # exited meanwhile
        proc = int(stat.parent.name)
        parents[proc] = int(fields[1])
        times[proc] = (int(fields[11]) + int(fields[12])) / tick
    tree, total = {pid}, 0.0
    for _ in range(4):  # a few levels deep is enough (server, workers)
        tree |= {p for p, parent in parents.items() if parent in tree}
    for proc in tree:
        total += times.get(proc, 0.0)
    return total


@dataclass(frozen=True)
class Load:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    cpu_us: float | None = None  # the server's CPU time per request, when measured

    def row(self, name: str, base: Load | None = None) -> str:
        ratio = f"{self.rps / base.rps:6.2f}x" if base else "   base"
        cpu = f"  cpu {self.cpu_us:5.0f} us/req" if self.cpu_us is not None else ""
        return (
            f"{name:<34} {self.rps:9.0f} req/s  p50 {self.p50_ms:6.2f} ms  "
            f"p99 {self.p99_ms:6.2f} ms  {ratio}  errors {self.errors}{cpu}"
        )


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    match = re.match(r"([\d.]+)(us|ms|s)", text)
    assert match, text
    return float(match.group(1)) * _UNITS[match.group(2)]


def wrk(url: str, seconds: int, *, script: Path | None = None, connections: int = 16) -> Load:
    args = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "5s"]
    if script is not None:
        args += ["-s", str(script)]
    pid = _SERVER_PIDS.get(int(re.search(r":(\d+)/", url).group(1)))  # type: ignore[union-attr]
    cpu_before = _cpu_s(pid) if pid else 0.0
    out = subprocess.run([*args, url], capture_output=True, text=True, check=True).stdout
    cpu = _cpu_s(pid) - cpu_before if pid else None
    done = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = (int(bad.group(1)) if bad else 0) + (sum(int(g) for g in sock.groups()) if sock else 0)
    return Load(rps, p50, p99, errors, cpu * 1e6 / done if cpu is not None and done else None)


def wrk_script(path: Path, method: str, body: str, headers: dict[str, str]) -> Path:
    lines = [f'wrk.method = "{method}"', f"wrk.body = {json.dumps(body)}"]
    lines += [f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


FIXED_RATE_CLIENT = r"""
import asyncio, json, sys, time
import httpx

async def main(spec):
    rate, seconds, reqs = spec["rate"], spec["seconds"], spec["requests"]
    latencies = {r["name"]: [] for r in reqs}
    errors = {r["name"]: 0 for r in reqs}
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=64), timeout=5) as client:
        async def one(r):
            t0 = time.perf_counter()
            resp = await client.request(r["method"], r["url"], headers=r["headers"],
                                        content=r["body"].encode() if r["body"] else None)
            latencies[r["name"]].append((time.perf_counter() - t0) * 1000)
            if resp.status_code >= 400:
                errors[r["name"]] += 1
        tasks = []
        start = time.perf_counter()
        total = int(rate * seconds)
        for i in range(total):
            target = start + i / rate
            delay = target - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(reqs[i % len(reqs)])))
        await asyncio.gather(*tasks)
    print(json.dumps({"latencies": latencies, "errors": errors}))

asyncio.run(main(json.loads(sys.stdin.read())))
"""


def fixed_rate(rate: int, seconds: int, requests: list[dict[str, Any]]) -> dict[str, Load]:
    """Open loop: requests are sent on schedule whatever the server's speed (no coordinated
    omission), round-robin over ``requests``, from a separate process."""
    spec = json.dumps({"rate": rate, "seconds": seconds, "requests": requests})
    out = subprocess.run(
        [sys.executable, "-c", FIXED_RATE_CLIENT], input=spec, capture_output=True, text=True
    )
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    data = json.loads(out.stdout)
    result = {}
    for name, values in data["latencies"].items():
        values.sort()
        p99 = values[min(len(values) - 1, int(len(values) * 0.99))]
        result[name] = Load(
            rps=len(values) / seconds,
            p50_ms=statistics.median(values),
            p99_ms=p99,
            errors=data["errors"][name],
        )
    return result


# ---- the stack under test ----------------------------------------------------------------------


@contextmanager
def process(args: list[str], port: int, env: dict[str, str], log: Path) -> Iterator[None]:
    with log.open("wb") as fh:
        proc = subprocess.Popen(args, env=env, stdout=fh, stderr=subprocess.STDOUT, cwd=ROOT)
        _SERVER_PIDS[port] = proc.pid
        try:
            wait_for_port(port, 30)
            yield
        finally:
            proc.terminate()
            proc.wait(timeout=15)


@contextmanager
def redis_server(workdir: Path) -> Iterator[str]:
    port = free_port()
    args = ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "",
            "--appendonly", "no", "--dir", str(workdir)]  # fmt: skip
    with process(args, port, dict(os.environ), workdir / "redis.log"):
        yield f"redis://127.0.0.1:{port}/0"


def nginx_configs(base: Path, root: Path, secret: str) -> tuple[Path, int, int]:
    """The edge config from deploy/nginx, plus an unsigned static server of the same root."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("render", ROOT / "deploy/nginx/render.py")
    assert spec and spec.loader
    render = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(render)
    edge_port, plain_port = free_port(), free_port()
    runtime = base / "nginx"
    runtime.mkdir()
    conf = render.render(listen=f"127.0.0.1:{edge_port}", root=root, secret=secret,
                         runtime_dir=runtime)  # fmt: skip
    plain = (
        f"    server {{\n        listen 127.0.0.1:{plain_port};\n"
        f"        location /plain/ {{ alias {root}/; }}\n    }}\n"
    )
    conf = conf.rstrip().removesuffix("}") + plain + "}\n"
    path = base / "nginx.conf"
    path.write_text(conf)
    return path, edge_port, plain_port


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=5, help="per wrk run")
    parser.add_argument("--rate", type=int, default=200, help="fixed-rate requests/s")
    parser.add_argument("--rate-seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per pair")
    parser.add_argument("--server", choices=SERVERS, default="uvicorn", help="serves both apps")
    opts = parser.parse_args()
    for tool in ("wrk", "redis-server", "nginx"):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            sys.exit(f"{tool} missing: apt-get install {tool} (./deploy/dev.sh install test)")

    from reelflow.catalog import engine_from_settings
    from reelflow.catalog.db import upgrade
    from reelflow.config import Settings
    from reelflow.playback_api.auth.auth import mint_dev_token
    from reelflow.playback_api.auth.auth_config import dev_token_secret
    from reelflow.playback_api.auth.signing import media_link_secret, sign_prefix
    from reelflow.storage import LocalStore
    from tests.fixtures.published import make_media, publish_title

    base = Path(tempfile.mkdtemp(prefix="reelflow-bench-api-"))
    base.chmod(0o755)
    try:
        with redis_server(base) as redis_url:
            api_port, bare_port = free_port(), free_port()
            env = {
                **os.environ,
                "REELFLOW_HOME": str(base / "state"),
                "REELFLOW_REDIS_URL": redis_url,
                "REELFLOW_API_PORT": str(api_port),
                # Sustained load from one session would trip the per-session license limit.
                "REELFLOW_LICENSE_RATE_PER_MINUTE": "100000000",
                # The bench's one account starts thousands of sessions a second.
                "REELFLOW_PLAYBACK_STARTS_PER_MINUTE": "100000000",
                # The measured session sends no heartbeats: keep its lease for the whole run.
                "REELFLOW_LEASE_TTL_S": "3600",
                "REELFLOW_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
            }
            settings = Settings(home=base / "state", redis_url=redis_url, api_port=api_port)
            settings.ensure_home()
            upgrade(settings.resolved_database_url)
            ffmpeg = settings.binary("ffmpeg")
            print("preparing a published title (ffmpeg + Shaka Packager) ...", flush=True)
            media = make_media(base / "media", ffmpeg=ffmpeg)
            store = LocalStore(settings.resolved_store_root)
            packager = settings.binary("packager")
            engine = engine_from_settings(settings)
            title = publish_title(
                settings, engine, store, media, packager=packager, title_id="tt-bench"
            )
            for path in [settings.home, *settings.home.rglob("*")]:
                path.chmod(0o755 if path.is_dir() else 0o644)
            secrets = settings.secrets()
            token = mint_dev_token(dev_token_secret(secrets.signing_secret), sub="bench",
                                   plan="premium", country="US", issuer=settings.auth_issuer,
                                   audience=settings.auth_audience, ttl_s=3600)  # fmt: skip
            # The POST load restarts on one device over and over: a device bound by the
            # identity provider (the token's device claim) may take over its own lease.
            tv_token = mint_dev_token(dev_token_secret(secrets.signing_secret), sub="bench",
                                      plan="premium", country="US", device="bench-tv",
                                      issuer=settings.auth_issuer, audience=settings.auth_audience,
                                      ttl_s=3600)  # fmt: skip
            origin_root = settings.resolved_store_root / "origin"
            env_bare = {**env, "BENCH_FILE_ROOT": str(origin_root)}
            print(f"server: {opts.server}", flush=True)
            with (
                process(
                    server_command(opts.server, api_port, None), api_port, env, base / "api.log"
                ),  # fmt: skip
                process(
                    server_command(opts.server, bare_port, "bench.playback_api:bare_app"),
                    bare_port,
                    env_bare,
                    base / "bare.log",
                ),  # fmt: skip
            ):
                run(opts, base, api_port, bare_port, (token, tv_token), title, origin_root,
                    media_link_secret(secrets.signing_secret), sign_prefix)  # fmt: skip
    finally:
        shutil.rmtree(base, ignore_errors=True)


Target = tuple[str, str, Path | None]  # name, url, wrk Lua script (method, body, headers)


SERVERS = ("uvicorn", "uvicorn-h11", "granian")


def server_command(server: str, port: int, app: str | None) -> list[str]:
    """How ``server`` serves ``app`` (an import path) on ``port``; app None is the API: as
    ``reelflow api`` starts it under uvicorn, through ``json_logged_api`` otherwise."""
    if server == "uvicorn" and app is None:
        return [str(Path(sys.executable).parent / "reelflow"), "api"]
    target = app or "bench.playback_api:json_logged_api"
    factory = [] if app else ["--factory"]
    if server == "granian":
        granian = str(Path(sys.executable).parent / "granian")
        return [granian, "--interface", "asgi", "--host", "127.0.0.1", "--port", str(port),
                "--workers", "1", "--loop", "uvloop", "--log-level", "warning", "--no-ws",
                *factory, target]  # fmt: skip
    pure = ["--loop", "asyncio", "--http", "h11"] if server == "uvicorn-h11" else []
    return [sys.executable, "-m", "uvicorn", "--host", "127.0.0.1", "--port", str(port),
            "--no-access-log", "--log-level", "warning", *pure, *factory, target]  # fmt: skip


def pairs(opts: argparse.Namespace, base: Target, candidate: Target) -> None:
    """Alternate baseline and candidate runs (so drift hits both) and print each round, the
    median ratio of requests/s and that of CPU time per request (baseline over candidate)."""
    ratios, cpu_ratios = [], []
    for n in range(opts.rounds):
        first = wrk(base[1], opts.seconds, script=base[2])
        second = wrk(candidate[1], opts.seconds, script=candidate[2])
        print(first.row(f"{base[0]} #{n + 1}"))
        print(second.row(f"{candidate[0]} #{n + 1}", first))
        ratios.append(second.rps / first.rps)
        if first.cpu_us and second.cpu_us:
            cpu_ratios.append(first.cpu_us / second.cpu_us)
    by_cpu = f", by CPU per request {statistics.median(cpu_ratios):.2f}x" if cpu_ratios else ""
    rounds = f"over {opts.rounds} rounds"
    print(f"{'median ratio':<34} {statistics.median(ratios):.2f}x {rounds}{by_cpu}")


def run(
    opts: argparse.Namespace,
    base: Path,
    api_port: int,
    bare_port: int,
    tokens: tuple[str, str],
    title: Any,
    origin_root: Path,
    link_secret: str,
    sign_prefix: Any,
) -> None:
    import httpx

    api = f"http://127.0.0.1:{api_port}"
    token, tv_token = tokens
    auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    tv_auth = {"Authorization": f"Bearer {tv_token}", "Content-Type": "application/json"}
    # The manifest and license load uses its own session on its own device: the POST load
    # keeps taking over the "bench-tv" lease (its token binds that device), which ends that
    # device's earlier sessions.
    player_body = json.dumps({"device_id": "bench-player", "drm": ["clearkey"]})
    start_body = json.dumps({"device_id": "bench-tv", "drm": ["clearkey"]})
    session = httpx.post(f"{api}/v1/titles/tt-bench/playback", content=player_body, headers=auth)
    session.raise_for_status()
    s = session.json()
    manifest = s["manifests"]["dash"]
    license_url = s["licenses"]["clearkey"]
    kids = [title.kid(c) for c in ("SD", "HD", "AUDIO")]
    import base64

    kid_b64 = [base64.urlsafe_b64encode(bytes.fromhex(k)).rstrip(b"=").decode() for k in kids]
    license_body = json.dumps({"kids": kid_b64, "type": "temporary"})
    # A license needs the viewer's credential beside the session's link, as a player sends it.
    license_kwargs = {"content": license_body, "headers": auth}
    for url, kwargs in ((manifest, {}), (license_url, license_kwargs)):
        check = httpx.request("POST" if kwargs else "GET", url, **kwargs)  # type: ignore[arg-type]
        check.raise_for_status()

    print(f"\nsaturation: wrk -t1 -c16 -d{opts.seconds}s from a second process (shares 2 cores)")
    bare: Target = ("bare FastAPI JSON endpoint", f"http://127.0.0.1:{bare_port}/bare", None)
    post_lua = wrk_script(base / "post.lua", "POST", start_body, tv_auth)
    license_lua = wrk_script(base / "lic.lua", "POST", license_body, auth)
    pairs(opts, bare, ("POST /v1/titles/{id}/playback", f"{api}/v1/titles/tt-bench/playback",
                       post_lua))  # fmt: skip
    pairs(opts, bare, ("GET manifest.mpd (filtered)", manifest, None))
    pairs(opts, bare, ("POST /v1/license/clearkey", license_url, license_lua))

    print(f"\nfixed rate: {opts.rate} req/s for {opts.rate_seconds} s, open loop, round-robin")
    fixed = fixed_rate(
        opts.rate,
        opts.rate_seconds,
        [
            {
                "name": "playback",
                "method": "POST",
                "url": f"{api}/v1/titles/tt-bench/playback",
                "headers": tv_auth,
                "body": start_body,
            },
            {"name": "manifest", "method": "GET", "url": manifest, "headers": {}, "body": ""},
            {
                "name": "license",
                "method": "POST",
                "url": license_url,
                "headers": auth,
                "body": license_body,
            },
        ],
    )
    for name, load in fixed.items():
        print(load.row(f"{name} @ {opts.rate} req/s total"))

    segment = "video_720p_700k/1.m4s"
    size = (origin_root / "tt-bench/v1" / segment).stat().st_size
    # The player's session holds the link (its lease lasts the run: REELFLOW_LEASE_TTL_S).
    exp = int(time.time()) + 3600
    prefix = sign_prefix(link_secret, "tt-bench", "v1", exp, holder=s["session_id"])
    print(f"\nsegments: one {size // 1024} KiB .m4s, wrk -t1 -c16 -d{opts.seconds}s")
    plain_url = f"http://127.0.0.1:{bare_port}/file/tt-bench/v1/{segment}"
    pairs(opts, ("Starlette FileResponse (plain)", plain_url, None),
          ("embedded origin (signed)", f"{api}{prefix}{segment}", None))  # fmt: skip

    conf, edge_port, plain_port = nginx_configs(base, origin_root, link_secret)
    runtime = base / "nginx"
    with process(["nginx", "-c", str(conf), "-p", str(runtime), "-g", "daemon off;"],
                 edge_port, dict(os.environ), base / "nginx.log"):  # fmt: skip
        wait_for_port(plain_port)
        unsigned_url = f"http://127.0.0.1:{plain_port}/plain/tt-bench/v1/{segment}"
        edge_url = f"http://127.0.0.1:{edge_port}{prefix}{segment}"
        pairs(
            opts,
            ("nginx static (unsigned)", unsigned_url, None),
            ("nginx edge (secure_link)", edge_url, None),
        )


if __name__ == "__main__":
    main()
