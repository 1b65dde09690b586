"""Fetch a studio's master from a local path, an http(s) URL or an object-store key.

The bytes are streamed into a local file while hashing, with a size cap and timeouts, so a
multi-GB master never sits in memory and a hostile URL cannot fill the disk.

Sources named by a studio (``public_only``) are fetched only from public addresses, by the
one rule in ``reelflow.ingest.public_address``: before the first request and before each
redirect (followed by hand, at most MAX_REDIRECTS), the hop's host is resolved once, every
address must be public, and the connection goes to those addresses only (pinned: the name
is not resolved again, so DNS rebinding between check and connect finds no second lookup;
Host, SNI and the certificate check keep the name). Local paths are refused for them
outright, and store keys too except under the studio's own ``uploads/<studio id>/``
(``check_studio_store_source``: what it put there through a presigned upload). Sources
ops give (the CLI) may be internal and are fetched as named.

HTTP fetches given a ``resume_dir`` survive a killed attempt: the bytes go to a partial
file named after the URL, with a JSON sidecar holding the first response's validator
(strong ETag, else Last-Modified). The next attempt re-hashes that partial (the SHA-256
is of the whole file) and asks for the rest with ``Range``/``If-Range``: a 206 whose
Content-Range starts at the partial's size is appended; a 200 (ranges ignored, or the
validator changed) starts over; a 416 counts as complete only if the size matches.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
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
from reelflow.storage import InvalidObjectKey, ObjectNotFound, ObjectStore, validate_key

CHUNK = 1024 * 1024
STORE_PREFIX = "store:"
MAX_REDIRECTS = 5
UPLOADS_PREFIX = "uploads"
# A partial nobody resumed within this long is from a source given up on: removed.
PARTIAL_MAX_AGE_S = 24 * 3600
_CONTENT_RANGE = re.compile(r"bytes (?:(\d+)-(\d+)|\*)/(\d+|\*)")


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


def studio_uploads_prefix(studio_id: str) -> str:
    """Where a studio's presigned uploads land, and the only store keys it may name."""
    return f"{UPLOADS_PREFIX}/{studio_id}/"


def check_studio_store_source(source: str, studio_id: str) -> str:
    """The object key of ``store:uploads/<studio_id>/...``; BadSource for any other key,
    another studio's prefix or a key with ``..``, empty or control-character segments."""
    key = source[len(STORE_PREFIX) :] if source.startswith(STORE_PREFIX) else ""
    prefix = studio_uploads_prefix(studio_id)
    try:
        validate_key(key)
    except InvalidObjectKey:
        key = ""
    if not key.startswith(prefix) or key == prefix:
        raise BadSource(f"a studio's store: source must name an object under store:{prefix}")
    return key


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
    resume_dir: Path | None = None,
    studio_id: str | None = None,
) -> Fetched:
    """``progress`` gets the byte count of each block written (activity heartbeats).

    With ``resume_dir`` (kept across attempts) an http(s) fetch resumes a killed one."""
    kind = classify(source)
    if public_only and kind == "store" and studio_id is not None:
        check_studio_store_source(source, studio_id)
    elif public_only and kind != "http":
        raise BadSource("a studio's source must be an http(s) URL")
    if kind == "http" and resume_dir is not None:
        resumed = _fetch_resumable(
            source,
            dest,
            resume_dir,
            max_bytes=max_bytes,
            timeout_s=timeout_s,
            public_only=public_only,
            resolver=resolver,
            progress=progress,
        )
        if resumed is not None:
            return resumed
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
                lambda url, resp: _read_body(url, resp, write, max_bytes),
                timeout_s=timeout_s,
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


def _check_status(url: str, resp: httpx.Response) -> None:
    if resp.status_code >= 500:
        raise TransientSourceError(f"{url}: server answered {resp.status_code}")
    if resp.status_code >= 400:
        raise BadSource(f"{url}: server answered {resp.status_code}")


def _read_body(
    url: str, resp: httpx.Response, sink: Callable[[bytes], None], max_bytes: int
) -> None:
    _check_status(url, resp)
    declared = resp.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise SourceTooLarge(
            f"source declares {declared} bytes, over the ingest cap of {max_bytes}"
        )
    for block in resp.iter_bytes(CHUNK):
        sink(block)


class _Restart(Exception):
    """The server's answer to a range request cannot continue the partial."""


class _Hashed:
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


def _validator(resp: httpx.Response) -> str | None:
    # If-Range needs a strong validator: a weak ETag cannot vouch for byte equality.
    etag = resp.headers.get("etag")
    if etag and not etag.startswith("W/"):
        return etag
    return resp.headers.get("last-modified")


def _prune_partials(resume_dir: Path) -> None:
    cutoff = time.time() - PARTIAL_MAX_AGE_S
    for old in resume_dir.iterdir():
        try:
            if old.stat().st_mtime < cutoff:
                old.unlink()
        except OSError:
            pass


def _fetch_resumable(
    url: str,
    dest: Path,
    resume_dir: Path,
    *,
    max_bytes: int,
    timeout_s: float,
    public_only: bool,
    resolver: Resolver | None,
    progress: Callable[[int], None] | None,
) -> Fetched | None:
    """None when another attempt holds this URL's partial (the caller fetches plainly)."""
    resume_dir.mkdir(parents=True, exist_ok=True)
    _prune_partials(resume_dir)
    name = hashlib.sha256(url.encode()).hexdigest()[:32]
    part, meta = resume_dir / f"{name}.part", resume_dir / f"{name}.json"
    with part.open("a+b") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return None
        state = _Hashed(max_bytes, progress)
        validator: str | None = None
        try:
            saved = json.loads(meta.read_text())
            if saved.get("url") == url and isinstance(saved.get("validator"), str):
                validator = saved["validator"]
        except (OSError, ValueError):
            pass
        have = os.fstat(fh.fileno()).st_size if validator else 0
        fh.seek(0)
        # Re-hash what is on disk, not what the killed attempt counted: the SHA-256 is of
        # the whole file and only flushed bytes survived.
        while have and state.size < have and (block := fh.read(min(CHUNK, have - state.size))):
            state.count(block)
        have = state.size
        fh.truncate(have)
        fh.seek(0, os.SEEK_END)

        def restart(resp: httpx.Response) -> None:
            _check_status(url, resp)
            fh.truncate(0)
            fh.seek(0)
            state.digest, state.size = hashlib.sha256(), 0
            found = _validator(resp)
            if found:
                meta.write_text(json.dumps({"url": url, "validator": found}))
            else:
                meta.unlink(missing_ok=True)
            _read_body(url, resp, append, max_bytes)

        def append(block: bytes) -> None:
            state.count(block, fh.write)

        def resumed(hop: str, resp: httpx.Response) -> None:
            if resp.status_code == 200:
                restart(resp)  # ranges ignored, or If-Range failed: the full entity
                return
            match = _CONTENT_RANGE.fullmatch(resp.headers.get("content-range", "").strip())
            if resp.status_code == 416:
                if match and match.group(3) == str(have):
                    return  # the partial already is the whole entity
                raise _Restart
            _check_status(hop, resp)
            if resp.status_code != 206 or not match or match.group(1) != str(have):
                raise _Restart
            _read_body(hop, resp, append, max_bytes - have)

        get = partial(_fetch_http, timeout_s=timeout_s, public_only=public_only, resolver=resolver)
        try:
            try:
                if have:
                    get(
                        url,
                        resumed,
                        headers={"Range": f"bytes={have}-", "If-Range": str(validator)},
                    )
                else:
                    get(url, lambda u, r: restart(r))
            except _Restart:
                get(url, lambda u, r: restart(r))
        except BadSource:
            # Not worth retrying, so not worth keeping.
            part.unlink(missing_ok=True)
            meta.unlink(missing_ok=True)
            raise
        fh.flush()
        if state.size == 0:
            part.unlink(missing_ok=True)
            meta.unlink(missing_ok=True)
            raise BadSource("source is empty (0 bytes)")
        shutil.move(part, dest)
        meta.unlink(missing_ok=True)
        return Fetched(dest, state.digest.hexdigest(), state.size)
