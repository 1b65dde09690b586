"""The edge in front of two replicas (deploy/nginx/render.py --upstream), one of which dies
mid-request: it reads the whole request, then resets the connection without answering, as
a replica killed while working does. Real nginx, two loopback upstreams in threads.

What the edge may send to the other replica once a request was sent: idempotent methods,
a playback start carrying an Idempotency-Key, and a license POST; any other POST is not
repeated (the player gets the 502). A replica that answers, even 503 overloaded, is alive:
its answer reaches the player and it stays in rotation. The fleet under real replicas is
tests/topology/test_topology.py (SIGKILL, rolling restart).
"""

from __future__ import annotations

import http.client
import json
import shutil
import socket
import socketserver
import struct
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.deploy.test_nginx_edge import NGINX, SECRET, load_render
from tests.services import free_port, wait_for_port

TRIES = 6  # per check: the first request of each nginx worker goes to the dying replica


class _Dying(socketserver.BaseRequestHandler):
    """Reads one request (head and body), then resets the connection: no answer at all."""

    def handle(self) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = self.request.recv(65536)
            if not chunk:
                return
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(body) < length:
            chunk = self.request.recv(65536)
            if not chunk:
                break
            body += chunk
        self.server.seen += 1  # type: ignore[attr-defined]
        # SO_LINGER 0: close sends RST, as the kernel does for a killed process's socket
        # with unread or unanswered traffic.
        self.request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.request.close()


class _Shedding(BaseHTTPRequestHandler):
    """Admission control at capacity: every request a 503 overloaded problem."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        body = b'{"type":"https://reelflow.dev/problems/overloaded","status":503}'
        self.send_response(503)
        self.send_header("Content-Type", "application/problem+json")
        self.send_header("Retry-After", "1")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Live(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive with the edge, as uvicorn does

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        body = json.dumps({"by": "live", "method": self.command, "path": self.path}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = _answer

    def log_message(self, format: str, *args: object) -> None:
        pass


@dataclass
class Fleet:
    port: int
    dying: socketserver.TCPServer

    def send(self, method: str, path: str, headers: dict[str, str] | None = None) -> int:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
        try:
            body = b"{}" if method in ("POST", "PUT") else None
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            payload = response.read()
            if response.status == 200:
                assert json.loads(payload)["by"] == "live"
            return response.status
        finally:
            conn.close()

    @property
    def seen_by_dying(self) -> int:
        return int(self.dying.seen)  # type: ignore[attr-defined]


@pytest.fixture
def fleet() -> Iterator[Fleet]:
    """A fresh edge per test: nginx marks the dying replica down for fail_timeout after
    its first failure, so each test starts with both in rotation."""
    dying = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Dying)
    dying.seen = 0  # type: ignore[attr-defined]
    yield from _edge(dying)


@pytest.fixture
def shedding_fleet() -> Iterator[Fleet]:
    """The first replica sheds every request; the second answers."""
    yield from _edge(ThreadingHTTPServer(("127.0.0.1", 0), _Shedding))


def _edge(first: socketserver.TCPServer) -> Iterator[Fleet]:
    if not NGINX.exists():
        pytest.fail("nginx missing: apt-get install nginx")
    live = ThreadingHTTPServer(("127.0.0.1", 0), _Live)
    servers = [first, live]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    base = Path(tempfile.mkdtemp(prefix="reelflow-fleet-edge-"))
    runtime = base / "run"
    runtime.mkdir()
    base.chmod(0o755)
    port = free_port()
    conf = base / "edge.conf"
    upstreams = [f"127.0.0.1:{s.server_address[1]}" for s in servers]
    conf.write_text(load_render().render(listen=f"127.0.0.1:{port}", root=None, secret=SECRET,
                                         runtime_dir=runtime, upstreams=upstreams))  # fmt: skip
    proc = subprocess.Popen(
        [str(NGINX), "-c", str(conf), "-p", str(runtime), "-g", "daemon off;"],
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port)
        yield Fleet(port, first)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        for server in servers:
            server.shutdown()
            server.server_close()
        shutil.rmtree(base, ignore_errors=True)


def _until_the_dying_one_saw_some(fleet: Fleet, method: str, path: str,
                                  headers: dict[str, str] | None = None) -> list[int]:  # fmt: skip
    statuses = [fleet.send(method, path, headers) for _ in range(TRIES)]
    assert fleet.seen_by_dying >= 1, "no request reached the dying replica: nothing proven"
    return statuses


@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [
        ("POST", "/v1/titles/tt-1/playback", {"Idempotency-Key": "k-1"}),
        ("POST", "/v1/license/clearkey?token=t", {"Authorization": "Bearer x"}),
        ("GET", "/v1/playback/s1/manifest.mpd?token=t", None),
        ("PUT", "/v1/sessions/s1/heartbeat", None),
    ],
)
def test_what_may_be_repeated_goes_to_the_other_replica(
    fleet: Fleet, method: str, path: str, headers: dict[str, str] | None
) -> None:
    assert _until_the_dying_one_saw_some(fleet, method, path, headers) == [200] * TRIES


def test_a_post_without_a_key_is_not_repeated_once_sent(fleet: Fleet) -> None:
    statuses = _until_the_dying_one_saw_some(fleet, "POST", "/v1/titles/tt-1/playback")
    assert 502 in statuses and set(statuses) <= {200, 502}, statuses


def test_a_replica_that_sheds_is_answered_through_and_stays_in_rotation(
    shedding_fleet: Fleet,
) -> None:
    """Its 503 reaches the player with Retry-After, and the edge keeps sending it requests:
    counted as a failure, one refusal would bench it for fail_timeout (then the first
    request of each nginx worker would be its only 503)."""
    statuses = []
    for _ in range(8):
        conn = http.client.HTTPConnection("127.0.0.1", shedding_fleet.port, timeout=15)
        try:
            conn.request("GET", "/v1/playback/s1/manifest.mpd?token=t")
            response = conn.getresponse()
            body = response.read()
            statuses.append(response.status)
            if response.status == 503:
                assert response.getheader("Retry-After") == "1"
                assert json.loads(body)["type"].endswith("/overloaded")
        finally:
            conn.close()
    assert set(statuses) == {200, 503} and statuses.count(503) >= 3, statuses
