"""Fetching masters: local paths, a real HTTP server on loopback, and the object store."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from reelflow.ingest.fetch import fetch_to
from reelflow.ingest.sources import (
    BadSource,
    SourceTooLarge,
    TransientSourceError,
    check_public_host,
    classify,
)
from reelflow.storage import LocalStore

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/master.mp4":
            self.send_response(200)
            self.send_header("Content-Length", str(len(PAYLOAD)))
            self.end_headers()
            self.wfile.write(PAYLOAD)
        elif self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/master.mp4")
            self.end_headers()
        elif self.path == "/boom":
            self.send_response(503)
            self.end_headers()
        else:
            self.send_response(404)
            self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def http_base() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "objects")


def test_classify_accepts_only_known_schemes() -> None:
    assert classify("/abs/file.mov") == "file"
    assert classify("file:///abs/file.mov") == "file"
    assert classify("https://studio.example/master.mov") == "http"
    assert classify("store:incoming/master.mov") == "store"
    for bad in ("ftp://x/y", "relative/path.mov", "gopher://x", "", "javascript:alert(1)", "a\0b"):
        with pytest.raises(BadSource):
            classify(bad)


def test_local_file_is_hashed_while_copied(tmp_path: Path, store: LocalStore) -> None:
    src = tmp_path / "m.bin"
    src.write_bytes(PAYLOAD)
    got = fetch_to(str(src), tmp_path / "out", store=store, max_bytes=10**9, timeout_s=5)
    assert got.sha256 == hashlib.sha256(PAYLOAD).hexdigest()
    assert got.size_bytes == len(PAYLOAD) and got.path.read_bytes() == PAYLOAD


def test_http_source_streams_and_follows_redirects(
    http_base: str, tmp_path: Path, store: LocalStore
) -> None:
    got = fetch_to(
        f"{http_base}/redirect", tmp_path / "out", store=store, max_bytes=10**9, timeout_s=5
    )
    assert got.sha256 == hashlib.sha256(PAYLOAD).hexdigest()


def test_http_errors_are_named(http_base: str, tmp_path: Path, store: LocalStore) -> None:
    with pytest.raises(BadSource, match="404"):
        fetch_to(f"{http_base}/missing", tmp_path / "a", store=store, max_bytes=10**9, timeout_s=5)
    with pytest.raises(TransientSourceError, match="503"):
        fetch_to(f"{http_base}/boom", tmp_path / "b", store=store, max_bytes=10**9, timeout_s=5)


def test_size_cap_stops_the_download(http_base: str, tmp_path: Path, store: LocalStore) -> None:
    with pytest.raises(SourceTooLarge):
        fetch_to(
            f"{http_base}/master.mp4", tmp_path / "c", store=store, max_bytes=1000, timeout_s=5
        )


def test_unreachable_host_is_transient(tmp_path: Path, store: LocalStore) -> None:
    from tests.services import free_port

    with pytest.raises(TransientSourceError):
        fetch_to(
            f"http://127.0.0.1:{free_port()}/x",
            tmp_path / "d",
            store=store,
            max_bytes=10**9,
            timeout_s=2,
        )


def test_store_source_and_missing_objects(tmp_path: Path, store: LocalStore) -> None:
    store.put_bytes("incoming/m.bin", PAYLOAD)
    got = fetch_to(
        "store:incoming/m.bin", tmp_path / "e", store=store, max_bytes=10**9, timeout_s=5
    )
    assert got.size_bytes == len(PAYLOAD)
    with pytest.raises(BadSource, match="nope"):
        fetch_to("store:incoming/nope", tmp_path / "f", store=store, max_bytes=10**9, timeout_s=5)
    with pytest.raises(BadSource):
        fetch_to("store:../etc/passwd", tmp_path / "g", store=store, max_bytes=10**9, timeout_s=5)


def test_empty_and_missing_files_are_refused(tmp_path: Path, store: LocalStore) -> None:
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(BadSource, match="empty"):
        fetch_to(str(empty), tmp_path / "h", store=store, max_bytes=10**9, timeout_s=5)
    with pytest.raises(BadSource, match="no such file"):
        fetch_to(
            str(tmp_path / "absent.mp4"), tmp_path / "i", store=store, max_bytes=10**9, timeout_s=5
        )


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/master.mp4",
        "http://localhost/master.mp4",
        "http://[::1]/master.mp4",
        "https://10.1.2.3/master.mp4",
        "http://169.254.169.254/latest/meta-data",
        "http://0.0.0.0/x",
    ],
)
def test_studio_sources_never_reach_internal_addresses(url: str) -> None:
    with pytest.raises(BadSource, match="non-public"):
        check_public_host(url)


def test_a_public_address_passes_the_check() -> None:
    check_public_host("https://93.184.216.34/master.mp4")  # a literal: no DNS, no traffic


def test_studio_sources_refuse_local_paths_and_store_keys(tmp_path: Path) -> None:
    master = tmp_path / "m.bin"
    master.write_bytes(b"x")
    store = LocalStore(tmp_path / "store")
    for source in (str(master), f"file://{master}", "store:masters/x"):
        with pytest.raises(BadSource, match="http"):
            fetch_to(
                source, tmp_path / "out", store=store, max_bytes=10, timeout_s=1, public_only=True
            )


def test_a_studio_url_on_an_internal_host_fetches_nothing(http_base: str, tmp_path: Path) -> None:
    # The loopback server is internal: the very first hop is refused before any request.
    out = tmp_path / "out"
    with pytest.raises(BadSource, match="non-public"):
        fetch_to(
            f"{http_base}/redirect",
            out,
            store=LocalStore(tmp_path / "s"),
            max_bytes=10**9,
            timeout_s=2,
            public_only=True,
        )
    assert not out.exists() or out.stat().st_size == 0
