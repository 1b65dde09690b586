"""The embedded origin's small-file cache agrees with the store it shortcuts."""

from __future__ import annotations

from pathlib import Path

from reelflow.playback_api.delivery.file_cache import SmallFileCache, http_etag
from reelflow.storage import LocalStore


def test_cached_and_streamed_etags_agree(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    store.put_bytes("origin/t/v1/1.m4s", b"segment")
    path = store.local_path("origin/t/v1/1.m4s")
    assert path is not None
    cached = SmallFileCache().get(path)
    info = store.stat("origin/t/v1/1.m4s")
    assert cached is not None and info.etag is not None
    assert cached.body == b"segment"
    assert cached.etag == http_etag(info.etag)


def test_http_etag_quotes_once() -> None:
    assert http_etag("abc-1") == '"abc-1"'
    assert http_etag('"abc-1"') == '"abc-1"'
