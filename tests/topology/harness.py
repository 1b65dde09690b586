"""The whole stack across network hosts on one machine (deploy/hosts.sh namespaces).

Each role runs in its own network namespace with one address on a private bridge that this
harness creates and removes: Temporal, PostgreSQL, SeaweedFS (S3), Redis, two API replicas,
the nginx edge in front of them, a control worker (with the rq worker and the events
writer, each its own process and log), two media workers.
Every process gets the production settings a deployment would: REELFLOW_ENV=production with
explicit secrets and an RS256 identity-provider key, PostgreSQL, S3, Redis and Temporal on
their own hosts. Traffic goes only to bridge addresses; ``Topology.close`` (also run on a
failed start) stops every process and removes every namespace, link and the bridge.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.services import (
    TEMPORAL_CLI,
    VENV_BIN,
    S3Server,
    postgres_server,
    redis_server,
    seaweedfs_server,
    wait_for_port,
)

REPO = Path(__file__).resolve().parents[2]
HOSTS_SH = REPO / "deploy" / "hosts.sh"
RENDER = REPO / "deploy" / "nginx" / "render.py"
NGINX = Path("/usr/sbin/nginx")
REELFLOW = VENV_BIN / "reelflow"
TEMPORAL_PORT = 7233
API_PORT = 8000
EDGE_PORT = 8080
BUCKET = "reelflow"
ISSUER, AUDIENCE = "reelflow-topology-idp", "reelflow-playback"


def _free_subnet() -> str:
    """A 10.213.X /24 that no route on this machine uses yet (a person's topology may be up)."""
    routes = subprocess.run(["ip", "-4", "route"], capture_output=True, text=True).stdout
    for octet in [*range(100, 200)]:
        subnet = f"10.213.{octet}"
        if f"{subnet}." not in routes:
            return subnet
    raise RuntimeError("no free 10.213.X subnet for the topology")


class Hosts:
    """deploy/hosts.sh under a prefix and subnet of its own."""

    def __init__(self, prefix: str | None = None, subnet: str | None = None) -> None:
        self.prefix = prefix or "t" + secrets.token_hex(1)  # 3 chars: interface names <= 15
        self.subnet = subnet or _free_subnet()

    def _sh(self, *args: str) -> str:
        env = {**os.environ, "REELFLOW_HOSTS_PREFIX": self.prefix}
        env["REELFLOW_HOSTS_SUBNET"] = self.subnet
        done = subprocess.run(
            ["bash", str(HOSTS_SH), *args], env=env, capture_output=True, text=True, timeout=120
        )
        if done.returncode != 0:
            raise RuntimeError(f"hosts.sh {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def up(self) -> None:
        self._sh("up")

    def down(self) -> None:
        self._sh("down")

    def addr(self, role: str) -> str:
        return self._sh("addr", role).strip()

    def wrap(self, role: str) -> list[str]:
        self.addr(role)  # unknown roles fail here, not as a missing namespace later
        return ["ip", "netns", "exec", f"{self.prefix}-{role}"]

    def pids(self, role: str) -> list[int]:
        out = subprocess.run(
            ["ip", "netns", "pids", f"{self.prefix}-{role}"], capture_output=True, text=True
        ).stdout
        return [int(p) for p in out.split()]

    def kill_all(self, role: str) -> int:
        """SIGKILL every process inside a host (a dead machine); returns how many."""
        pids = self.pids(role)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return len(pids)

    def cut(self, role: str) -> None:
        self._sh("cut", role)

    def heal(self, role: str) -> None:
        self._sh("heal", role)


@dataclass
class Service:
    """One long-running process inside a host, restartable with the same command."""

    name: str
    wrap: list[str]
    argv: list[str]
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [*self.wrap, *self.argv],
                env=self.env,
                cwd=REPO,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 15.0) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)
        try:
            self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.proc = None

    def tail(self, n: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-n:] if self.log.exists() else ""


def http(
    method: str,
    url: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    timeout_s: float = 10.0,
    raw: bytes | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """One HTTP request (bridge addresses only, by the caller); errors are answers too."""
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    hdrs = {"Content-Type": "application/json"} if data is not None else {}
    hdrs |= headers or {}
    req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def wait_until(check: Callable[[], Any], timeout_s: float, what: str, every_s: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return last
        except Exception as exc:  # not up yet
            last = exc
        time.sleep(every_s)
    raise TimeoutError(f"{what} not reached in {timeout_s}s (last: {last!r})")


@dataclass
class Topology:
    hosts: Hosts
    base: Path
    idp_key: rsa.RSAPrivateKey
    signing_secret: str
    env: dict[str, str] = field(default_factory=dict)
    services: dict[str, Service] = field(default_factory=dict)
    s3: S3Server | None = None
    database_url: str = ""
    _stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)

    # ---- addresses ----------------------------------------------------------------
    def addr(self, role: str) -> str:
        return self.hosts.addr(role)

    def api_url(self, replica: int) -> str:
        return f"http://{self.addr(f'api-{replica}')}:{API_PORT}"

    @property
    def edge_url(self) -> str:
        return f"http://{self.addr('edge')}:{EDGE_PORT}"

    @property
    def temporal_address(self) -> str:
        return f"{self.addr('temporal')}:{TEMPORAL_PORT}"

    @property
    def edge_runtime(self) -> Path:
        return self.base / "edge"

    # ---- processes ----------------------------------------------------------------
    def add(self, name: str, role: str, argv: Sequence[str], **env: str) -> Service:
        svc = Service(
            name,
            self.hosts.wrap(role),
            list(argv),
            {**self.env, "REELFLOW_HOME": str(self.base / f"home-{name}"), **env},
            self.base / "logs" / f"{name}.log",
        )
        self.services[name] = svc
        svc.start()
        return svc

    def cli(self, role: str, *args: str, timeout_s: float = 120.0, **env: str) -> str:
        """`reelflow ARGS` inside a host with the deployment's settings; stdout."""
        done = subprocess.run(
            [*self.hosts.wrap(role), str(REELFLOW), *args],
            env={**self.env, "REELFLOW_HOME": str(self.base / "home-cli"), **env},
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )
        if done.returncode != 0:
            raise RuntimeError(f"reelflow {shlex.join(args)}: {done.stderr[-2000:]}")
        return done.stdout

    # ---- viewers ------------------------------------------------------------------
    def viewer_token(
        self, sub: str, plan: str = "standard", ttl_s: int = 3600, admin: bool = False
    ) -> str:
        """An identity provider's RS256 token; ``admin``: with the claim the admin API needs."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "sub": sub,
            "plan": plan,
            "country": "US",
            "iss": ISSUER,
            # An admin token is for the admin audience (and lives an hour at most).
            "aud": "reelflow-admin" if admin else AUDIENCE,
            "iat": now,
            "nbf": now,
            "exp": now + ttl_s,
            "jti": secrets.token_hex(16),
        }
        if admin:
            claims["admin"] = True
        return jwt.encode(claims, self.idp_key, algorithm="RS256")

    # ---- outages ------------------------------------------------------------------
    def temporal_restart(self, down_s: float) -> None:
        svc = self.services["temporal"]
        svc.stop()
        time.sleep(down_s)
        svc.start()
        wait_for_port(TEMPORAL_PORT, 30, host=self.addr("temporal"))

    def postgres_ctl(self, action: str, down_s: float = 0.0) -> None:
        """Stop the catalog's postmaster, or start it again with the options it ran with."""
        data = Path(self.base_pg_data())
        pg_ctl = Path(shlex.split((data / "postmaster.opts").read_text())[0]).with_name("pg_ctl")
        wrap = [*self.hosts.wrap("postgres"), "runuser", "-u", "postgres", "--"]
        if action == "stop":
            self._pg_opts = shlex.split((data / "postmaster.opts").read_text())[1:]
            subprocess.run([*wrap, str(pg_ctl), "-D", str(data), "-m", "fast", "-w", "stop"],
                           check=True, capture_output=True, timeout=60)  # fmt: skip
        else:
            opts = [o for o in self._pg_opts]
            i = opts.index("-D")
            del opts[i : i + 2]
            subprocess.run(
                [*wrap, str(pg_ctl), "-D", str(data), "-l", str(data.parent / "pg.log"), "-w",
                 "-o", shlex.join(opts), "start"],
                check=True, capture_output=True, timeout=60,
            )  # fmt: skip

    def base_pg_data(self) -> str:
        from sqlalchemy import create_engine, text

        if not getattr(self, "_pg_data", ""):
            engine = create_engine(self.database_url)
            with engine.connect() as conn:
                self._pg_data = str(conn.execute(text("SHOW data_directory")).scalar())
            engine.dispose()
        return self._pg_data

    def s3_restart(self, down_s: float) -> None:
        """Kill the S3 host's server (every process in it), wait, start it on the same data."""
        pids = self.hosts.pids("s3")
        cmdlines = []
        for pid in pids:
            with contextlib.suppress(OSError):
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:-1]
                if argv and argv[0].endswith(b"weed"):
                    cmdlines.append([a.decode() for a in argv])
        assert len(cmdlines) == 1, cmdlines
        self.hosts.kill_all("s3")
        time.sleep(down_s)
        svc = Service("s3-restarted", self.hosts.wrap("s3"), cmdlines[0], dict(os.environ),
                      self.base / "logs" / "s3-restarted.log")  # fmt: skip
        self.services["s3-restarted"] = svc
        svc.start()

    # ---- teardown -----------------------------------------------------------------
    def close(self) -> None:
        for svc in reversed(list(self.services.values())):
            with contextlib.suppress(Exception):
                svc.stop(timeout_s=10)
        with contextlib.suppress(Exception):
            self._stack.close()
        self.hosts.down()


def _base_env() -> dict[str, str]:
    keep = ("PATH", "LANG", "LC_ALL", "TZ", "SSL_CERT_FILE", "SSL_CERT_DIR")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env["PATH"] = f"{VENV_BIN}:{env.get('PATH', '/usr/bin:/bin')}"
    return env


async def _register_search_attributes(address: str) -> None:
    from temporalio.client import Client

    from reelflow.workflows.client import register_search_attributes

    client = await Client.connect(address)
    await register_search_attributes(client)


def _http_ok(url: str) -> bool:
    return http("GET", url, timeout_s=2)[0] == 200


@contextlib.contextmanager
def topology(
    media_hosts: Sequence[str] = ("media-1", "media-2"),
    prefix: str | None = None,
    subnet: str | None = None,
) -> Iterator[Topology]:
    """Start the stack; yields it running; tears everything down however the block ends."""
    if os.geteuid() != 0:
        raise RuntimeError("the topology needs root (network namespaces)")
    for binary in (NGINX, TEMPORAL_CLI, REELFLOW):
        if not binary.exists():
            raise RuntimeError(f"{binary} missing: run ./deploy/dev.sh install test")
    base = Path(tempfile.mkdtemp(prefix="reelflow-topology-"))
    base.chmod(0o755)  # nginx workers (nobody) read the edge's runtime dir
    (base / "logs").mkdir()
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pub = base / "idp.pub.pem"
    pub.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    topo = Topology(Hosts(prefix, subnet), base, key, secrets.token_urlsafe(32))
    try:
        topo.hosts.up()
        _start(topo, pub, media_hosts)
        yield topo
    finally:
        topo.close()
        shutil.rmtree(base, ignore_errors=True)


def _start(topo: Topology, idp_pub: Path, media_hosts: Sequence[str]) -> None:
    hosts = topo.hosts
    # Temporal dev server, SQLite file on the "temporal" host's disk.
    (topo.base / "temporal").mkdir()
    topo.env = _base_env()
    temporal = topo.add(
        "temporal",
        "temporal",
        # --ip 0.0.0.0: the dev server dials its internal services on 127.0.0.1 whatever
        # --ip says, so it must listen there too; inside this host "every address" is
        # loopback and its one bridge address, nothing else.
        [str(TEMPORAL_CLI), "server", "start-dev", "--ip", "0.0.0.0",
         "--port", str(TEMPORAL_PORT), "--db-filename", str(topo.base / "temporal/temporal.db"),
         "--headless", "--log-level", "warn"],
    )  # fmt: skip
    pg_url = topo._stack.enter_context(
        postgres_server(host=topo.addr("postgres"), wrap=hosts.wrap("postgres"))
    )
    topo.database_url = pg_url
    topo.s3 = s3 = topo._stack.enter_context(
        seaweedfs_server(buckets=BUCKET, host=topo.addr("s3"), wrap=hosts.wrap("s3"))
    )
    redis_url = topo._stack.enter_context(
        redis_server(host=topo.addr("redis"), wrap=hosts.wrap("redis"))
    )
    wait_for_port(TEMPORAL_PORT, 30, host=topo.addr("temporal"))
    if not temporal.alive():
        raise RuntimeError(f"temporal did not start: {temporal.tail()}")
    # Operators register the search attributes on a production cluster (operations.md).
    asyncio.run(_register_search_attributes(topo.temporal_address))

    edge = topo.edge_url
    topo.env |= {
        "REELFLOW_ENV": "production",
        "REELFLOW_SIGNING_SECRET": topo.signing_secret,
        "REELFLOW_MASTER_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
        "REELFLOW_DATABASE_URL": pg_url,
        "REELFLOW_REDIS_URL": redis_url,
        "REELFLOW_TEMPORAL_ADDRESS": topo.temporal_address,
        "REELFLOW_STORE": "s3",
        "REELFLOW_S3_ENDPOINT": s3.endpoint,
        "REELFLOW_S3_ACCESS_KEY": s3.access_key,
        "REELFLOW_S3_SECRET_KEY": s3.secret_key,
        "REELFLOW_S3_BUCKET": BUCKET,
        "REELFLOW_AUTH_PUBLIC_KEY_PATH": str(idp_pub),
        "REELFLOW_AUTH_ISSUER": ISSUER,
        "REELFLOW_AUTH_AUDIENCE": AUDIENCE,
        "REELFLOW_PUBLIC_BASE_URL": edge,
        "REELFLOW_MEDIA_BASE_URL": edge,
    }
    topo.cli("control", "db", "upgrade")

    for replica in (1, 2):
        topo.add(
            f"api-{replica}",
            f"api-{replica}",
            [str(REELFLOW), "api"],
            REELFLOW_API_HOST=topo.addr(f"api-{replica}"),
            REELFLOW_API_PORT=str(API_PORT),
        )
    topo.add("control", "control", [str(REELFLOW), "worker", "--queue", "control"],
             REELFLOW_WORKER_IDENTITY="control")  # fmt: skip
    topo.add("rq", "control", [str(REELFLOW), "worker", "--queue", "rq"])
    # Viewer events: the stream (on the redis host) into Parquet on the S3 host.
    topo.add("events", "control", [str(REELFLOW), "events", "writer"])
    for role in media_hosts:
        topo.add(role, role, [str(REELFLOW), "worker", "--queue", "media"],
                 REELFLOW_WORKER_IDENTITY=role)  # fmt: skip
    _start_edge(topo)
    for replica in (1, 2):
        try:
            wait_until(lambda r=replica: _http_ok(f"{topo.api_url(r)}/readyz"), 60, "ready")  # type: ignore[misc]
        except TimeoutError:
            answer = http("GET", f"{topo.api_url(replica)}/readyz", timeout_s=5)
            log = topo.services[f"api-{replica}"].tail()
            raise RuntimeError(f"api-{replica} not ready: {answer}\n{log}") from None
    wait_until(lambda: _http_ok(f"{edge}/healthz"), 20, "edge up")
    for name in ("control", "rq", "events", *media_hosts):
        if not topo.services[name].alive():
            raise RuntimeError(f"{name} exited: {topo.services[name].tail()}")


def _start_edge(topo: Topology) -> None:
    from reelflow.playback_api.auth.signing import media_link_secret

    runtime = topo.edge_runtime
    runtime.mkdir(mode=0o755)
    secret_file = topo.base / "media-link-secret"
    secret_file.write_text(media_link_secret(topo.signing_secret.encode()))
    secret_file.chmod(0o600)
    conf = runtime / "edge.conf"
    subprocess.run(
        ["python3", str(RENDER), "--listen", f"{topo.addr('edge')}:{EDGE_PORT}",
         "--upstream", f"{topo.addr('api-1')}:{API_PORT}",
         "--upstream", f"{topo.addr('api-2')}:{API_PORT}",
         "--runtime-dir", str(runtime), "--secret-file", str(secret_file),
         "--output", str(conf)],
        check=True, timeout=30,
    )  # fmt: skip
    topo.add("edge", "edge", [str(NGINX), "-c", str(conf), "-p", str(runtime), "-g", "daemon off;"])


# ---- reading what happened ------------------------------------------------------------
CACHE_RE = re.compile(r" cache=(\S+)$")


def edge_cache_statuses(topo: Topology) -> list[str]:
    """$upstream_cache_status of every /media/ request the edge logged."""
    log = topo.edge_runtime / "access.log"
    out = []
    for line in log.read_text().splitlines() if log.exists() else []:
        m = CACHE_RE.search(line)
        if m and m.group(1) != "-":
            out.append(m.group(1))
    return out


def serve(state_file: Path, prefix: str, subnet: str | None) -> None:
    """deploy/topology.sh up: run the stack until SIGTERM/SIGINT, then remove all of it.
    The state file says where everything is (and holds the IdP key to mint viewer tokens
    with, so it is written 0600)."""
    import threading

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    with topology(prefix=prefix, subnet=subnet) as topo:
        roles = ["temporal", "postgres", "s3", "redis", "api-1", "api-2", "edge", "control",
                 "media-1", "media-2"]  # fmt: skip
        key_pem = topo.idp_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        state = {
            "prefix": topo.hosts.prefix,
            "subnet": topo.hosts.subnet,
            "hosts": {role: topo.addr(role) for role in roles},
            "api": [topo.api_url(1), topo.api_url(2)],
            "edge": topo.edge_url,
            "temporal": topo.temporal_address,
            "logs": str(topo.base / "logs"),
            "env": topo.env,
            "idp_private_key": key_pem,
            "issuer": ISSUER,
            "audience": AUDIENCE,
        }
        fd = os.open(state_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(state, fh, indent=1)
        print("ready", flush=True)
        while not stop.wait(1.0):
            pass
    state_file.unlink(missing_ok=True)


if __name__ == "__main__":
    import sys

    serve(Path(sys.argv[1]), sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None)
