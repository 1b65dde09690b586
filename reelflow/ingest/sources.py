"""Fetch a studio's master from a local path, an http(s) URL or an object-store key.

The bytes are streamed into a local file while hashing, with a size cap and timeouts, so a
multi-GB master never sits in memory and a hostile URL cannot fill the disk.

Sources named by a studio (``public_only``) are fetched only from public addresses, by the
one rule in ``reelflow.ingest.public_address``: before the first request and before each
redirect (followed by hand, at most MAX_REDIRECTS), the hop's host is resolved once, every
address must be public, and the connection goes to those addresses only (pinned: the name
is not resolved again, so DNS rebinding between check and connect finds no second lookup;
Host, SNI and the certificate check keep the name). Local paths and store keys are
refused for them outright. Sources ops give (the CLI) may be internal and are fetched as
named.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx

from reelflow.ingest.public_address import (
    NonPublicAddress,
    Resolver,
    UnresolvableHost,
    pinned_client,
    resolve_public,
    url_host_port,
)
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
    resolver: Resolver | None = None,
    progress: Callable[[int], None] | None = None,
) -> Fetched:
    """``progress`` gets the byte count of each block written (activity heartbeats)."""
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
            if progress is not None:
                progress(len(block))

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
                source,
                write,
                timeout_s=timeout_s,
                max_bytes=max_bytes,
                public_only=public_only,
                resolver=resolver,
            )
    if size == 0:
        raise BadSource("source is empty (0 bytes)")
    return Fetched(dest, digest.hexdigest(), size)


@contextmanager
def _refusals_as_bad_source(url: str) -> Iterator[None]:
    try:
        yield
    except (NonPublicAddress, UnresolvableHost) as exc:
        raise BadSource(f"source {exc}") from exc
    except (ValueError, httpx.InvalidURL) as exc:
        raise BadSource(f"not an http(s) URL: {url[:80]!r}") from exc


def check_public_host(url: str, *, resolver: Resolver | None = None) -> None:
    """BadSource unless the URL is http(s) and its host is, or resolves only to, public
    addresses (the rule in ``reelflow.ingest.public_address``)."""
    with _refusals_as_bad_source(url):
        host, port = url_host_port(url)
        resolve_public(host, port, resolver=resolver)


def _client(
    url: str, timeout: httpx.Timeout, *, public_only: bool, resolver: Resolver | None
) -> httpx.Client:
    if not public_only:
        return httpx.Client(timeout=timeout, follow_redirects=False)
    with _refusals_as_bad_source(url):
        return pinned_client(url, timeout=timeout, resolver=resolver)


def _fetch_http(
    url: str,
    sink: Callable[[bytes], None],
    *,
    timeout_s: float,
    max_bytes: int,
    public_only: bool = False,
    resolver: Resolver | None = None,
) -> None:
    timeout = httpx.Timeout(timeout_s, connect=min(10.0, timeout_s))
    try:
        for _hop in range(MAX_REDIRECTS + 1):
            # One client per hop: for a studio's URL it is pinned to this hop's checked
            # addresses, so a redirect to an internal host never gets a connection.
            with (
                _client(url, timeout, public_only=public_only, resolver=resolver) as client,
                client.stream("GET", url) as resp,
            ):
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
