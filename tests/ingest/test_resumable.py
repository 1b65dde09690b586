"""A killed master fetch resumes with HTTP Range against a real loopback server.

The handler implements Range, If-Range (against its ETag) and 416 itself, and counts
the body bytes it sent, so "resumed" is measured on the wire, not inferred.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from reelflow.ingest.fetch import fetch_to
from reelflow.storage import LocalStore

SIZE = 16 * 1024 * 1024 + 12345
KILL_AFTER = 1024 * 1024


class Killed(RuntimeError):
    """Stands for the worker dying mid-fetch."""


@dataclass
class Origin:
    body: bytes
    etag: str = '"v1"'
    ranges: bool = True
    sent: int = 0
    # Body bytes per request: a killed request's thread may still be writing into loopback
    # buffers when the next request starts, so "what the retry cost" is counted on its own.
    sent_by_request: list[int] = field(default_factory=list)
    range_headers: list[str | None] = field(default_factory=list)
    if_range_headers: list[str | None] = field(default_factory=list)


def _handler(origin: Origin) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            body = origin.body
            rng, if_range = self.headers.get("Range"), self.headers.get("If-Range")
            origin.range_headers.append(rng)
            request = len(origin.sent_by_request)
            origin.sent_by_request.append(0)
            origin.if_range_headers.append(if_range)
            start = 0
            match = re.fullmatch(r"bytes=(\d+)-", rng or "")
            honour = origin.ranges and match and (if_range is None or if_range == origin.etag)
            if honour and match:
                start = int(match.group(1))
                if start >= len(body):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(body)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            else:
                self.send_response(200)
            self.send_header("ETag", origin.etag)
            self.send_header("Content-Length", str(len(body) - start))
            self.end_headers()
            try:
                for at in range(start, len(body), 65536):
                    chunk = body[at : at + 65536]
                    self.wfile.write(chunk)
                    origin.sent += len(chunk)
                    origin.sent_by_request[request] += len(chunk)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client was killed

        def log_message(self, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def origin() -> Iterator[tuple[Origin, str]]:
    state = Origin(os.urandom(SIZE))
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}/master.mov"
    server.shutdown()
    server.server_close()


def _killer(after: int) -> object:
    seen = 0

    def progress(n: int) -> None:
        nonlocal seen
        seen += n
        if seen >= after:
            raise Killed(f"killed after {seen} bytes")

    return progress


def _fetch(url: str, tmp: Path, dest: str, progress: object = None) -> object:
    # Loopback is an ops-given source (public_only=False), as the CLI's would be.
    return fetch_to(
        url,
        tmp / dest,
        store=LocalStore(tmp / "objects"),
        max_bytes=64 * 1024 * 1024,
        timeout_s=10,
        public_only=False,
        progress=progress,  # type: ignore[arg-type]
        resume_dir=tmp / "partial",
    )


def _partial_size(tmp: Path) -> int:
    parts = list((tmp / "partial").glob("*.part"))
    assert len(parts) == 1
    return parts[0].stat().st_size


def test_killed_fetch_resumes_with_range(origin: tuple[Origin, str], tmp_path: Path) -> None:
    state, url = origin
    with pytest.raises(Killed):
        _fetch(url, tmp_path, "a", _killer(KILL_AFTER))
    have = _partial_size(tmp_path)
    assert KILL_AFTER <= have < SIZE

    got = _fetch(url, tmp_path, "b")
    assert state.range_headers[-1] == f"bytes={have}-"
    assert state.if_range_headers[-1] == '"v1"'
    assert state.sent_by_request[-1] == SIZE - have  # only the rest
    assert got.sha256 == hashlib.sha256(state.body).hexdigest()  # type: ignore[attr-defined]
    assert got.size_bytes == SIZE  # type: ignore[attr-defined]
    assert (tmp_path / "b").read_bytes() == state.body
    # The first attempt's count includes what loopback socket buffers took after the kill
    # (a few MB): still far from a second copy.
    assert state.sent < SIZE * 1.5, state.sent
    assert not list((tmp_path / "partial").iterdir())  # partial and sidecar gone


def test_changed_validator_refetches_whole(origin: tuple[Origin, str], tmp_path: Path) -> None:
    state, url = origin
    with pytest.raises(Killed):
        _fetch(url, tmp_path, "a", _killer(KILL_AFTER))
    have = _partial_size(tmp_path)
    state.body, state.etag = os.urandom(SIZE), '"v2"'

    got = _fetch(url, tmp_path, "b")
    assert state.range_headers[-1] == f"bytes={have}-"  # asked, and was refused by If-Range
    assert state.sent_by_request[-1] == SIZE
    assert got.sha256 == hashlib.sha256(state.body).hexdigest()  # type: ignore[attr-defined]
    assert (tmp_path / "b").read_bytes() == state.body


def test_server_without_ranges_refetches_whole(origin: tuple[Origin, str], tmp_path: Path) -> None:
    state, url = origin
    state.ranges = False
    with pytest.raises(Killed):
        _fetch(url, tmp_path, "a", _killer(KILL_AFTER))

    got = _fetch(url, tmp_path, "b")
    assert state.range_headers[-1] is not None
    assert state.sent_by_request[-1] == SIZE
    assert got.sha256 == hashlib.sha256(state.body).hexdigest()  # type: ignore[attr-defined]
    assert got.size_bytes == SIZE  # type: ignore[attr-defined]


def test_complete_partial_answered_416_is_done(origin: tuple[Origin, str], tmp_path: Path) -> None:
    state, url = origin
    # Killed on the last block: everything is on disk, the rename never happened.
    with pytest.raises(Killed):
        _fetch(url, tmp_path, "a", _killer(SIZE))
    assert _partial_size(tmp_path) == SIZE

    got = _fetch(url, tmp_path, "b")
    assert state.range_headers[-1] == f"bytes={SIZE}-"
    assert state.sent_by_request[-1] == 0  # 416: nothing sent again
    assert got.sha256 == hashlib.sha256(state.body).hexdigest()  # type: ignore[attr-defined]


def test_416_with_other_size_starts_over(origin: tuple[Origin, str], tmp_path: Path) -> None:
    state, url = origin
    with pytest.raises(Killed):
        _fetch(url, tmp_path, "a", _killer(SIZE))
    state.body = state.body[: SIZE // 2]  # same ETag, shorter entity: the partial is not it
    got = _fetch(url, tmp_path, "b")
    assert state.range_headers[-1] is None  # the restart asks for the whole entity
    assert got.size_bytes == SIZE // 2  # type: ignore[attr-defined]
    assert got.sha256 == hashlib.sha256(state.body).hexdigest()  # type: ignore[attr-defined]
