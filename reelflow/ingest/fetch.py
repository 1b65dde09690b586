"""Fetch a studio's master from a local path, an http(s) URL or an object-store key.

The bytes are streamed into a local file while hashing, with a size cap and timeouts, so a
multi-GB master never sits in memory and a hostile URL cannot fill the disk. What a source
may be, and the public-address rule for a studio's, is ``reelflow.ingest.sources``; an
http(s) fetch given a ``resume_dir`` continues a killed one (``reelflow.ingest.resumable``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from reelflow.ingest.public_address import Resolver
from reelflow.ingest.resumable import fetch_resumable
from reelflow.ingest.sources import (
    CHUNK,
    STORE_PREFIX,
    BadSource,
    Fetched,
    Hashed,
    check_studio_store_source,
    classify,
    fetch_http,
    read_body,
)
from reelflow.storage import InvalidObjectKey, ObjectNotFound, ObjectStore


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
        resumed = fetch_resumable(
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
    state = Hashed(max_bytes, progress)
    with dest.open("wb") as out:

        def write(block: bytes) -> None:
            state.count(block, out.write)

        if kind == "file":
            _read_file(source, write)
        elif kind == "store":
            _read_store(source, store, write)
        else:
            fetch_http(
                source,
                lambda url, resp: read_body(url, resp, write, max_bytes),
                timeout_s=timeout_s,
                public_only=public_only,
                resolver=resolver,
            )
    if state.size == 0:
        raise BadSource("source is empty (0 bytes)")
    return Fetched(dest, state.digest.hexdigest(), state.size)


def _read_file(source: str, write: Callable[[bytes], None]) -> None:
    path = Path(urlsplit(source).path if source.startswith("file:") else source)
    if not path.is_file():
        raise BadSource(f"no such file: {path}")
    with path.open("rb") as fh:
        while block := fh.read(CHUNK):
            write(block)


def _read_store(source: str, store: ObjectStore, write: Callable[[bytes], None]) -> None:
    key = source[len(STORE_PREFIX) :]
    try:
        for block in store.open_read(key):
            write(block)
    except (ObjectNotFound, InvalidObjectKey) as exc:
        raise BadSource(f"source object {key!r}: {exc}") from exc
