"""Real services for tests: PostgreSQL, Redis (started here on loopback) and Temporal paths.

Nothing here is a mock: each helper starts the real server binary on a free loopback port
in a private directory and stops it afterwards.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

VENV_BIN = Path(sys.executable).parent
TEMPORAL_CLI = VENV_BIN / "temporal"
TEMPORAL_TEST_SERVER = VENV_BIN / "temporal-test-server"
PG_BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout_s}s")


@contextmanager
def redis_server() -> Iterator[str]:
    exe = shutil.which("redis-server")
    if exe is None:
        raise RuntimeError("redis-server missing: run ./deploy/dev.sh test (installs it)")
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="reelflow-redis-")
    proc = subprocess.Popen(
        [
            exe,
            "--bind",
            "127.0.0.1",
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
        wait_for_port(port)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


def _pg_tool(name: str) -> str:
    for bin_dir in PG_BIN_DIRS:
        if (bin_dir / name).exists():
            return str(bin_dir / name)
    raise RuntimeError(f"PostgreSQL {name} missing: run ./deploy/dev.sh test (installs postgresql)")


@contextmanager
def postgres_server() -> Iterator[str]:
    """A throwaway PostgreSQL cluster on a free port, data under a private temp dir.

    PostgreSQL refuses to run as root, so as root the cluster belongs to the `postgres`
    system user that Debian's package creates.
    """
    port = free_port()
    base = Path(tempfile.mkdtemp(prefix="reelflow-pg-"))
    data = base / "data"
    as_user: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(base, user="postgres", group="postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    subprocess.run(
        [
            *as_user,
            _pg_tool("initdb"),
            "-D",
            str(data),
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
            "-E",
            "UTF8",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
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
            f"-p {port} -c listen_addresses=127.0.0.1 -k {base} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off",
            "start",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*as_user, _pg_tool("pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        shutil.rmtree(base, ignore_errors=True)


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
