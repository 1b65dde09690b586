"""bench/soak.py's processes: Redis and PostgreSQL that can be stopped and started again on
the same port and data, and the API replicas whose memory is sampled.

tests/services.py starts each server once for a test; a soak needs the same server to go
away and come back, so these keep their command line, port and data directory.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.services import _pg_tool, free_port, pg_initdb, wait_for_port  # noqa: E402


class Redis:
    """redis-server configured as deploy/ ships it: append-only file fsynced every second,
    no RDB snapshots, noeviction; a SIGTERM stop therefore loses nothing."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        exe = shutil.which("redis-server")
        if exe is None:
            sys.exit("redis-server missing: ./deploy/dev.sh install test")
        args = [
            exe,
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--dir",
            str(self.workdir),
            "--save",
            "",
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--maxmemory-policy",
            "noeviction",
        ]
        log = (self.workdir / "redis.log").open("ab")
        self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        wait_for_port(self.port, 30)

    def stop(self) -> None:
        """SIGTERM, as a container stop or systemd sends it; wait for the exit."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=60)
            self.proc = None


class Postgres:
    """A private PostgreSQL cluster on a fixed port. Stopped in fast mode (SIGINT to the
    postmaster, which is the official image's STOPSIGNAL): SIGTERM is the smart mode,
    which waits for every pooled connection to close and so never stops under load."""

    def __init__(self, base: Path) -> None:
        self.port = free_port()
        self.base = base
        self.data = base / "data"
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"
        self.as_user: list[str] = []
        base.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            shutil.chown(base, user="postgres", group="postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]
        pg_initdb(self.data, self.as_user)

    def _ctl(self, *args: str) -> None:
        subprocess.run(
            [*self.as_user, _pg_tool("pg_ctl"), "-D", str(self.data), *args],
            check=True,
            stdout=subprocess.DEVNULL,
        )

    def start(self) -> None:
        opts = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.base}"
        self._ctl("-l", str(self.base / "pg.log"), "-w", "-o", opts, "start")
        wait_for_port(self.port, 30)

    def stop(self) -> None:
        self._ctl("-m", "fast", "-w", "stop")


class Api:
    """One ``reelflow api`` process (one uvicorn worker, as shipped) on its own port."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        exe = Path(sys.executable).parent / "reelflow"
        self._log = log.open("wb")
        self.proc = subprocess.Popen(
            [str(exe), "api", "--port", str(self.port)],
            env={**env, "REELFLOW_API_PORT": str(self.port)},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
        wait_for_port(self.port, 60)

    def rss_kib(self) -> int:
        """Resident memory of the process (uvicorn without --workers: no children)."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()
