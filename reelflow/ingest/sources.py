"""Fetch a studio's master from a local path, an http(s) URL or an object-store key.

The bytes are streamed into a local file while hashing, with a size cap and timeouts, so a
multi-GB master never sits in memory and a hostile URL cannot fill the disk.

Sources named by a studio (``public_only``) are fetched only from public addresses: the
host is resolved and every address it resolves to must be globally routable, before the
first request and before each redirect (followed by hand), so a URL cannot reach the
service's own network (SSRF) by naming it, by a DNS name that points inside, or by a
redirect. Local paths and store keys are refused for them outright. Known limit: the
check and the connection resolve the name separately, so a DNS answer that changes in
between (rebinding) is not caught; a fetch proxy with its own egress rules closes that.
"""

from __future__ import annotations

import hashlib
import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx

from reelflow.storage import InvalidObjectKey, ObjectNotFound, ObjectStore

CHUNK = 1024 * 1024
STORE_PREFIX = "store:"
MAX_REDIRECTS = 5


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
    source: str,
    dest: Path,
    *,
    store: ObjectStore,
    max_bytes: int,
    timeout_s: float,
    public_only: bool = False,
) -> Fetched:
    kind = classify(source)
    if public_only and kind != "http":
        raise BadSource("a studio's source must be an http(s) URL")
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
            _fetch_http(
                source, write, timeout_s=timeout_s, max_bytes=max_bytes, public_only=public_only
            )
    if size == 0:
        raise BadSource("source is empty (0 bytes)")
    return Fetched(dest, digest.hexdigest(), size)


def check_public_host(url: str) -> None:
    """BadSource unless every address the URL's host resolves to is globally routable."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadSource(f"not an http(s) URL: {url[:80]!r}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(parts.hostname, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise BadSource(f"source host {parts.hostname!r} does not resolve: {exc}") from exc
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if not address.is_global or address.is_multicast:
            raise BadSource(f"source host {parts.hostname!r} resolves to a non-public address")


def _fetch_http(
    url: str,
    sink: Callable[[bytes], None],
    *,
    timeout_s: float,
    max_bytes: int,
    public_only: bool = False,
) -> None:
    timeout = httpx.Timeout(timeout_s, connect=min(10.0, timeout_s))
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False) as client:
            for _hop in range(MAX_REDIRECTS + 1):
                if public_only:
                    check_public_host(url)
                with client.stream("GET", url) as resp:
                    if resp.is_redirect:
                        url = urljoin(url, resp.headers.get("location", ""))
                        if urlsplit(url).scheme not in ("http", "https"):
                            raise BadSource("redirected to a non-http scheme")
                        continue
                    _read_body(url, resp, sink, max_bytes)
                    return
            raise BadSource(f"more than {MAX_REDIRECTS} redirects")
    except httpx.TransportError as exc:
        raise TransientSourceError(f"{url}: {type(exc).__name__}: {exc}") from exc


def _read_body(
    url: str, resp: httpx.Response, sink: Callable[[bytes], None], max_bytes: int
) -> None:
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
