"""Sources of a studio's master: a local path, an http(s) URL or an object-store key.

What a source may be and how a fetch of one is checked: the kinds, the studio's store
prefix, the public-address rule, the named errors, the running hash with the size cap,
and the plain HTTP fetch that ``reelflow.ingest.fetch`` (the entry point) and
``reelflow.ingest.resumable`` share.

Sources named by a studio (``public_only``) are fetched only from public addresses, by the
one rule in ``reelflow.ingest.public_address``: before the first request and before each
redirect (followed by hand, at most MAX_REDIRECTS), the hop's host is resolved once, every
address must be public, and the connection goes to those addresses only (pinned: the name
is not resolved again, so DNS rebinding between check and connect finds no second lookup;
Host, SNI and the certificate check keep the name). Local paths are refused for them
outright, and store keys too except under the studio's own ``uploads/<studio id>/``
(``check_studio_store_source``: what it put there through a presigned upload). Sources
ops give (the CLI) may be internal and are fetched as named.
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
from reelflow.storage import InvalidObjectKey, layout, validate_key

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


def check_studio_store_source(source: str, studio_id: str) -> str:
    """The object key of ``store:uploads/<studio_id>/...``; BadSource for any other key,
    another studio's prefix or a key with ``..``, empty or control-character segments."""
    key = source[len(STORE_PREFIX) :] if source.startswith(STORE_PREFIX) else ""
    prefix = layout.uploads_prefix(studio_id)
    try:
        validate_key(key)
    except InvalidObjectKey:
        key = ""
    if not key.startswith(prefix) or key == prefix:
        raise BadSource(f"a studio's store: source must name an object under store:{prefix}")
    return key


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


def fetch_http(
    url: str,
    handle: Callable[[str, httpx.Response], None],
    *,
    timeout_s: float,
    public_only: bool = False,
    resolver: Resolver | None = None,
    headers: dict[str, str] | None = None,
) -> None:
    timeout = httpx.Timeout(timeout_s, connect=min(10.0, timeout_s))
    try:
        for _hop in range(MAX_REDIRECTS + 1):
            # One client per hop: for a studio's URL it is pinned to this hop's checked
            # addresses, so a redirect to an internal host never gets a connection.
            with (
                _client(url, timeout, public_only=public_only, resolver=resolver) as client,
                client.stream("GET", url, headers=headers) as resp,
            ):
                if resp.is_redirect:
                    url = urljoin(url, resp.headers.get("location", ""))
                    if urlsplit(url).scheme not in ("http", "https"):
                        raise BadSource("redirected to a non-http scheme")
                    continue
                handle(url, resp)
                return
        raise BadSource(f"more than {MAX_REDIRECTS} redirects")
    except httpx.TransportError as exc:
        raise TransientSourceError(f"{url}: {type(exc).__name__}: {exc}") from exc


def check_status(url: str, resp: httpx.Response) -> None:
    if resp.status_code >= 500:
        raise TransientSourceError(f"{url}: server answered {resp.status_code}")
    if resp.status_code >= 400:
        raise BadSource(f"{url}: server answered {resp.status_code}")


def read_body(
    url: str, resp: httpx.Response, sink: Callable[[bytes], None], max_bytes: int
) -> None:
    check_status(url, resp)
    declared = resp.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise SourceTooLarge(
            f"source declares {declared} bytes, over the ingest cap of {max_bytes}"
        )
    for block in resp.iter_bytes(CHUNK):
        sink(block)


class Hashed:
    """The running hash and size of a fetch, with the ingest cap."""

    def __init__(self, max_bytes: int, progress: Callable[[int], None] | None) -> None:
        self.max_bytes = max_bytes
        self.progress = progress
        self.digest = hashlib.sha256()
        self.size = 0

    def count(self, block: bytes, sink: Callable[[bytes], object] | None = None) -> None:
        self.size += len(block)
        if self.size > self.max_bytes:
            raise SourceTooLarge(f"source exceeds the ingest cap of {self.max_bytes} bytes")
        self.digest.update(block)
        if sink is not None:
            sink(block)  # before progress: a heartbeat that cancels still leaves the block
        if self.progress is not None:
            self.progress(len(block))
