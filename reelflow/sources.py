"""Fetch a studio's master from a local path, an http(s) URL or an object-store key.

The bytes are streamed into a local file while hashing, with a size cap and timeouts, so a
multi-GB master never sits in memory and a hostile URL cannot fill the disk.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from reelflow.storage import InvalidObjectKey, ObjectNotFound, ObjectStore

CHUNK = 1024 * 1024
STORE_PREFIX = "store:"


class BadSource(ValueError):
    """The source reference is unusable: wrong scheme, missing file, refused by the server."""


class SourceTooLarge(BadSource):
    """The source is bigger than the configured ingest cap."""


class TransientSourceError(RuntimeError):
    """A fault worth retrying: timeout, connection reset, 5xx."""


@dataclass(frozen=True)
class Fetched:
    path: Path
    sha256: str
    size_bytes: int


def classify(source: str) -> str:
    """'store', 'http' or 'file'; raises BadSource for anything else."""
    if not source or len(source) > 4096 or "\x00" in source:
        raise BadSource("source must be a non-empty reference of at most 4096 characters")
    if source.startswith(STORE_PREFIX):
        return "store"
    scheme = urlsplit(source).scheme.lower()
    if scheme in ("http", "https"):
        return "http"
    if scheme == "file" or (scheme == "" and source.startswith("/")):
        return "file"
    raise BadSource(
        f"unsupported source {source[:80]!r}: use an absolute path, file://, http(s):// "
        "or store:<object key>"
    )


def fetch_to(
    source: str, dest: Path, *, store: ObjectStore, max_bytes: int, timeout_s: float
) -> Fetched:
    kind = classify(source)
    digest = hashlib.sha256()
    size = 0
    with dest.open("wb") as out:

        def write(block: bytes) -> None:
            nonlocal size
            size += len(block)
            if size > max_bytes:
                raise SourceTooLarge(f"source exceeds the ingest cap of {max_bytes} bytes")
            digest.update(block)
            out.write(block)

        if kind == "file":
            path = Path(urlsplit(source).path if source.startswith("file:") else source)
            if not path.is_file():
                raise BadSource(f"no such file: {path}")
            with path.open("rb") as fh:
                while block := fh.read(CHUNK):
                    write(block)
        elif kind == "store":
            key = source[len(STORE_PREFIX) :]
            try:
                for block in store.open_read(key):
                    write(block)
            except (ObjectNotFound, InvalidObjectKey) as exc:
                raise BadSource(f"source object {key!r}: {exc}") from exc
        else:
            _fetch_http(source, write, timeout_s=timeout_s, max_bytes=max_bytes)
    if size == 0:
        raise BadSource("source is empty (0 bytes)")
    return Fetched(dest, digest.hexdigest(), size)


def _fetch_http(
    url: str, sink: Callable[[bytes], None], *, timeout_s: float, max_bytes: int
) -> None:
    timeout = httpx.Timeout(timeout_s, connect=min(10.0, timeout_s))
    try:
        with (
            httpx.Client(timeout=timeout, follow_redirects=True, max_redirects=5) as client,
            client.stream("GET", url) as resp,
        ):
            if resp.url.scheme not in ("http", "https"):
                raise BadSource(f"redirected to a non-http scheme: {resp.url.scheme}")
            if resp.status_code >= 500:
                raise TransientSourceError(f"{url}: server answered {resp.status_code}")
            if resp.status_code >= 400:
                raise BadSource(f"{url}: server answered {resp.status_code}")
            declared = resp.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise SourceTooLarge(
                    f"source declares {declared} bytes, over the ingest cap of {max_bytes}"
                )
            for block in resp.iter_bytes(CHUNK):
                sink(block)
    except httpx.TransportError as exc:
        raise TransientSourceError(f"{url}: {type(exc).__name__}: {exc}") from exc
