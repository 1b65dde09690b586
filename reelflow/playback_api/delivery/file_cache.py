"""A bounded in-memory cache of small local files for the embedded origin."""

from __future__ import annotations

import os
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from reelflow.storage.local import file_validator

SMALL_OBJECT = 4 * 1024 * 1024
CACHE_BYTES = 256 * 1024 * 1024


def http_etag(validator: str) -> str:
    """The ETag header value (RFC 9110: a quoted opaque string) for a stored object's validator.

    Object stores hand out bare validators (S3Store strips S3's quotes, LocalStore writes
    ``<mtime ns hex>-<size hex>``); this is the one place that makes a header of them, for
    streamed objects and for this cache alike.
    """
    return validator if validator.startswith('"') else f'"{validator}"'


@dataclass(frozen=True)
class CachedFile:
    body: bytes
    etag: str


class SmallFileCache:
    """LRU of small local files by path, validated by (size, mtime) on every hit."""

    def __init__(self, max_bytes: int = CACHE_BYTES) -> None:
        self.max_bytes = max_bytes
        self.used = 0
        self._items: OrderedDict[str, tuple[int, int, CachedFile]] = OrderedDict()

    def get(self, path: Path) -> CachedFile | None:
        try:
            st = os.stat(path)
        except OSError:
            return None
        if st.st_size > SMALL_OBJECT:
            return None
        key = str(path)
        hit = self._items.get(key)
        if hit is not None and hit[0] == st.st_size and hit[1] == st.st_mtime_ns:
            self._items.move_to_end(key)
            return hit[2]
        body = path.read_bytes()
        # LocalStore's validator, so a local object has one ETag whether
        # it is served from here or streamed through ObjectStore.stat.
        entry = CachedFile(body, http_etag(file_validator(st)))
        if hit is not None:
            self.used -= len(hit[2].body)
        self._items[key] = (st.st_size, st.st_mtime_ns, entry)
        self.used += len(body)
        while self.used > self.max_bytes and self._items:
            _, (_, _, old) = self._items.popitem(last=False)
            self.used -= len(old.body)
        return entry
