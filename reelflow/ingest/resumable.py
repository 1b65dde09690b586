"""HTTP fetches that survive a killed attempt.

The bytes go to a partial file named after the URL, with a JSON sidecar holding the first
response's validator (strong ETag, else Last-Modified). The next attempt re-hashes that
partial (the SHA-256 is of the whole file) and asks for the rest with ``Range``/``If-Range``:
a 206 whose Content-Range starts at the partial's size is appended; a 200 (ranges ignored,
or the validator changed) starts over; a 416 counts as complete only if the size matches.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import BinaryIO

import httpx

from reelflow.ingest.public_address import Resolver
from reelflow.ingest.sources import (
    CHUNK,
    BadSource,
    Fetched,
    Hashed,
    check_status,
    fetch_http,
    read_body,
)

# A partial nobody resumed within this long is from a source given up on: removed.
PARTIAL_MAX_AGE_S = 24 * 3600
_CONTENT_RANGE = re.compile(r"bytes (?:(\d+)-(\d+)|\*)/(\d+|\*)")


class _Restart(Exception):
    """The server's answer to a range request cannot continue the partial."""


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


def _saved_validator(meta: Path, url: str) -> str | None:
    try:
        saved = json.loads(meta.read_text())
        if saved.get("url") == url and isinstance(saved.get("validator"), str):
            return str(saved["validator"])
    except (OSError, ValueError):
        pass
    return None


@dataclass
class _Partial:
    """The partial file of one URL (open, locked) and the running hash of its bytes."""

    url: str
    fh: BinaryIO
    meta: Path
    state: Hashed
    max_bytes: int
    have: int = 0

    def rehash(self, validator: str | None) -> None:
        """Re-hash what is on disk, not what the killed attempt counted: the SHA-256 is of
        the whole file and only flushed bytes survived. No validator: start empty."""
        fh, state = self.fh, self.state
        have = os.fstat(fh.fileno()).st_size if validator else 0
        fh.seek(0)
        while have and state.size < have and (block := fh.read(min(CHUNK, have - state.size))):
            state.count(block)
        self.have = state.size
        fh.truncate(self.have)
        fh.seek(0, os.SEEK_END)

    def append(self, block: bytes) -> None:
        self.state.count(block, self.fh.write)

    def restart(self, resp: httpx.Response) -> None:
        """The full entity from the top: the partial and the hash start over."""
        check_status(self.url, resp)
        self.fh.truncate(0)
        self.fh.seek(0)
        self.state.digest, self.state.size = hashlib.sha256(), 0
        found = _validator(resp)
        if found:
            self.meta.write_text(json.dumps({"url": self.url, "validator": found}))
        else:
            self.meta.unlink(missing_ok=True)
        read_body(self.url, resp, self.append, self.max_bytes)

    def resumed(self, hop: str, resp: httpx.Response) -> None:
        """The answer to a range request: the rest appended, or a restart."""
        if resp.status_code == 200:
            self.restart(resp)  # ranges ignored, or If-Range failed: the full entity
            return
        match = _CONTENT_RANGE.fullmatch(resp.headers.get("content-range", "").strip())
        if resp.status_code == 416:
            if match and match.group(3) == str(self.have):
                return  # the partial already is the whole entity
            raise _Restart
        check_status(hop, resp)
        if resp.status_code != 206 or not match or match.group(1) != str(self.have):
            raise _Restart
        read_body(hop, resp, self.append, self.max_bytes - self.have)


def fetch_resumable(
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
        partial_file = _Partial(url, fh, meta, Hashed(max_bytes, progress), max_bytes)
        validator = _saved_validator(meta, url)
        partial_file.rehash(validator)
        get = partial(fetch_http, timeout_s=timeout_s, public_only=public_only, resolver=resolver)
        try:
            _continue_or_restart(get, partial_file, validator)
        except BadSource:
            _discard(part, meta)  # not worth retrying, so not worth keeping
            raise
        fh.flush()
        state = partial_file.state
        if state.size == 0:
            _discard(part, meta)
            raise BadSource("source is empty (0 bytes)")
        shutil.move(part, dest)
        meta.unlink(missing_ok=True)
        return Fetched(dest, state.digest.hexdigest(), state.size)


def _continue_or_restart(
    get: Callable[..., None], partial_file: _Partial, validator: str | None
) -> None:
    url = partial_file.url
    try:
        if partial_file.have:
            headers = {"Range": f"bytes={partial_file.have}-", "If-Range": str(validator)}
            get(url, partial_file.resumed, headers=headers)
        else:
            get(url, lambda u, r: partial_file.restart(r))
    except _Restart:
        get(url, lambda u, r: partial_file.restart(r))


def _discard(part: Path, meta: Path) -> None:
    part.unlink(missing_ok=True)
    meta.unlink(missing_ok=True)
