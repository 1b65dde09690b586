"""Contract tests for reelflow.storage, run over LocalStore and S3Store alike.

S3Store talks real HTTP to a real S3 server on loopback (SeaweedFS ``weed mini``), which
checks every signature, presigned URLs included.
"""

from __future__ import annotations

import hashlib
import io
import os
import uuid
from pathlib import Path

import httpx
import pytest

from reelflow.config import Settings
from reelflow.storage import (
    InvalidObjectKey,
    InvalidRange,
    LocalStore,
    ObjectInfo,
    ObjectNotFound,
    ObjectStore,
    S3Store,
    StorageError,
    store_from_settings,
)
from reelflow.storage.keys import MAX_KEY_BYTES
from tests.storage.support import PART_SIZE, FailingReader, MiB, sha


def test_put_bytes_get_bytes_stat(store: ObjectStore) -> None:
    info = store.put_bytes("titles/1/meta.json", b'{"a": 1}')
    assert isinstance(info, ObjectInfo)
    assert (info.key, info.size) == ("titles/1/meta.json", 8)
    assert store.get_bytes("titles/1/meta.json") == b'{"a": 1}'
    st = store.stat("titles/1/meta.json")
    assert st.size == 8
    assert st.etag
    assert st.modified.tzinfo is not None
    assert store.exists("titles/1/meta.json")


def test_overwrite_replaces_content(store: ObjectStore) -> None:
    store.put_bytes("k", b"first version")
    store.put_bytes("k", b"2nd")
    assert store.get_bytes("k") == b"2nd"
    assert store.stat("k").size == 3


def test_longest_key_round_trips(store: ObjectStore) -> None:
    key = "/".join(["é" * 127] * 4) + "/" + "x" * 4  # 1024 bytes, 254-byte segments
    assert len(key.encode()) == MAX_KEY_BYTES
    store.put_bytes(key, b"deep")
    assert store.get_bytes(key) == b"deep"
    assert [i.key for i in store.list("")] == [key]


def test_empty_object(store: ObjectStore) -> None:
    store.put_bytes("empty", b"")
    assert store.get_bytes("empty") == b""
    assert store.stat("empty").size == 0
    assert b"".join(store.open_read("empty")) == b""


def test_missing_key(store: ObjectStore, tmp_path: Path) -> None:
    assert not store.exists("nope/missing.bin")
    with pytest.raises(ObjectNotFound, match=r"missing\.bin"):
        store.stat("nope/missing.bin")
    with pytest.raises(ObjectNotFound):
        store.get_bytes("nope/missing.bin")
    # Raised at call time, before any chunk, so an HTTP handler can still answer 404.
    with pytest.raises(ObjectNotFound):
        store.open_read("nope/missing.bin", start=10, length=5)
    with pytest.raises(ObjectNotFound):
        store.get_file("nope/missing.bin", tmp_path / "out.bin")
    assert not (tmp_path / "out.bin").exists()
    with pytest.raises(ObjectNotFound):
        store.copy("nope/missing.bin", "dst")
    assert not store.exists("dst")
    store.delete("nope/missing.bin")  # idempotent


def test_multipart_round_trip(store: ObjectStore, big_file: Path, tmp_path: Path) -> None:
    info = store.put_file("masters/big.bin", big_file)
    assert info.size == big_file.stat().st_size
    if isinstance(store, S3Store):
        # A multipart ETag is md5-of-part-md5s with a "-<parts>" suffix: 11 MiB / 5 MiB = 3.
        assert info.etag is not None and info.etag.endswith("-3"), info.etag
    out = store.get_file("masters/big.bin", tmp_path / "dl" / "big.bin")
    assert out == tmp_path / "dl" / "big.bin"
    assert sha(out) == sha(big_file)
    streamed = hashlib.sha256(b"".join(store.open_read("masters/big.bin"))).hexdigest()
    assert streamed == sha(big_file)
    assert [p.name for p in out.parent.iterdir()] == ["big.bin"]  # no temp file left


def test_small_put_file_is_single_part(store: ObjectStore, tmp_path: Path) -> None:
    src = tmp_path / "small.bin"
    src.write_bytes(b"a" * 1000)
    info = store.put_file("small.bin", src)
    assert info.size == 1000
    assert isinstance(store, LocalStore) or (info.etag is not None and "-" not in info.etag)
    assert store.get_bytes("small.bin") == b"a" * 1000


def test_put_stream_unknown_length_multipart(store: ObjectStore) -> None:
    data = os.urandom(PART_SIZE + 4321)
    info = store.put_stream("streamed.bin", io.BytesIO(data))  # length unknown
    assert info.size == len(data)
    if isinstance(store, S3Store):
        assert info.etag is not None and info.etag.endswith("-2"), info.etag
    assert hashlib.sha256(store.get_bytes("streamed.bin")).digest() == hashlib.sha256(data).digest()


@pytest.mark.parametrize("good_bytes", [1000, PART_SIZE + 1000], ids=["small", "past-one-part"])
def test_failed_upload_leaves_no_object(store: ObjectStore, good_bytes: int) -> None:
    store.put_bytes("keep/other", b"untouched")
    with pytest.raises(ConnectionResetError):
        store.put_stream("keep/partial.bin", io.BufferedReader(FailingReader(good_bytes)))
    assert not store.exists("keep/partial.bin")
    assert [i.key for i in store.list("keep/")] == ["keep/other"]
    if isinstance(store, LocalStore):
        assert sorted(p.name for p in (store.root / "keep").iterdir()) == ["other"]


def test_failed_overwrite_keeps_old_version(store: ObjectStore) -> None:
    store.put_bytes("v.bin", b"old content")
    with pytest.raises(ConnectionResetError):
        store.put_stream("v.bin", io.BufferedReader(FailingReader(500)))
    assert store.get_bytes("v.bin") == b"old content"


def test_put_stream_short_stream_with_length(store: ObjectStore) -> None:
    with pytest.raises(StorageError, match="ended after 3 bytes; expected 10"):
        store.put_stream("short.bin", io.BytesIO(b"abc"), length=10)
    assert not store.exists("short.bin")


@pytest.mark.parametrize(
    ("start", "length", "expected"),
    [
        (0, None, slice(0, None)),
        (10, 5, slice(10, 15)),
        (0, 1, slice(0, 1)),
        (999, None, slice(999, None)),
        (990, 100, slice(990, None)),  # runs past the end: truncated
        (1000, None, slice(1000, None)),  # start == size: nothing
        (500, 0, slice(500, 500)),
    ],
)
def test_range_reads(store: ObjectStore, start: int, length: int | None, expected: slice) -> None:
    data = bytes(range(256)) * 3 + os.urandom(232)  # 1000 bytes
    store.put_bytes("r.bin", data)
    assert b"".join(store.open_read("r.bin", start=start, length=length)) == data[expected]


def test_range_read_across_parts(store: ObjectStore, big_file: Path) -> None:
    store.put_file("big", big_file)
    start = PART_SIZE - 100  # spans the first part boundary
    with open(big_file, "rb") as fh:
        fh.seek(start)
        want = fh.read(3 * MiB)
    chunks = list(store.open_read("big", start=start, length=3 * MiB))
    assert b"".join(chunks) == want
    assert len(chunks) >= 3  # streamed in chunks, not one buffer


def test_range_errors(store: ObjectStore) -> None:
    store.put_bytes("r.bin", b"0123456789")
    with pytest.raises(InvalidRange):
        store.open_read("r.bin", start=11)
    with pytest.raises(InvalidRange):
        store.open_read("r.bin", start=-1)
    with pytest.raises(InvalidRange):
        store.open_read("r.bin", start=0, length=-5)


def test_abandoned_read_can_be_closed(store: ObjectStore, big_file: Path) -> None:
    store.put_file("big", big_file)
    reader = store.open_read("big")
    assert len(next(reader)) > 0
    reader.close()
    assert store.get_bytes("big")[:10] == big_file.read_bytes()[:10]  # store still usable


def test_list_by_prefix(store: ObjectStore) -> None:
    keys = ["t/1/a.mp4", "t/1/sub/b.m4s", "t/10/c", "t/1.txt", "t/2/d", "u/e"]
    for k in keys:
        store.put_bytes(k, k.encode())
    assert [i.key for i in store.list("t/1/")] == ["t/1/a.mp4", "t/1/sub/b.m4s"]
    # A plain string prefix, as in S3: "t/1" also matches "t/10/..." and "t/1.txt".
    assert [i.key for i in store.list("t/1")] == ["t/1.txt", "t/1/a.mp4", "t/1/sub/b.m4s", "t/10/c"]
    assert [i.key for i in store.list("")] == sorted(keys)
    assert [i.key for i in store.list("nothing/")] == []
    assert {i.key: i.size for i in store.list("u/")} == {"u/e": 3}


def test_copy(store: ObjectStore) -> None:
    store.put_bytes("src/a", b"payload")
    info = store.copy("src/a", "dst/deep/b")
    assert info.size == 7
    assert store.get_bytes("dst/deep/b") == b"payload"
    assert store.get_bytes("src/a") == b"payload"


def test_delete_and_delete_prefix(store: ObjectStore) -> None:
    for k in ["p/1", "p/2/x", "p/2/y", "pp/3", "q/4"]:
        store.put_bytes(k, b"x")
    store.delete("q/4")
    assert not store.exists("q/4")
    assert store.delete_prefix("p/") == 3
    assert [i.key for i in store.list("")] == ["pp/3"]
    assert store.delete_prefix("p/") == 0
    with pytest.raises(InvalidObjectKey, match="non-empty"):
        store.delete_prefix("")


def test_get_file_is_atomic_and_overwrites(store: ObjectStore, tmp_path: Path) -> None:
    store.put_bytes("a", b"new")
    dest = tmp_path / "dest.bin"
    dest.write_bytes(b"previous")
    store.get_file("a", dest)
    assert dest.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_url_reads_object(store: ObjectStore) -> None:
    store.put_bytes("play/seg 1.m4s", b"segment-bytes")
    url = store.url("play/seg 1.m4s", expires_s=600)
    if isinstance(store, S3Store):
        assert "X-Amz-Signature=" in url and "X-Amz-Expires=600" in url
        resp = httpx.get(url)
        assert resp.status_code == 200
        assert resp.content == b"segment-bytes"
    else:
        assert url.startswith("file:///")
        assert Path(httpx.URL(url).path).read_bytes() == b"segment-bytes"
    with pytest.raises(ValueError, match="expires_s"):
        store.url("play/seg 1.m4s", expires_s=0)


def test_local_path(store: ObjectStore) -> None:
    store.put_bytes("m/master.mov", b"movie")
    path = store.local_path("m/master.mov")
    if isinstance(store, LocalStore):
        assert path is not None and path.read_bytes() == b"movie"
        with pytest.raises(ObjectNotFound):
            store.local_path("m/missing.mov")
    else:
        assert path is None


def test_healthcheck(store: ObjectStore) -> None:
    assert store.healthcheck()


def test_store_is_protocol_instance(store: ObjectStore) -> None:
    assert isinstance(store, ObjectStore)


def test_store_from_settings_local(tmp_path: Path) -> None:
    store = store_from_settings(Settings(home=tmp_path, store="local"))
    assert isinstance(store, LocalStore)
    assert store.root == (tmp_path / "objects").resolve()


def test_store_from_settings_s3(seaweed_endpoint: str) -> None:
    settings = Settings(
        store="s3",
        s3_endpoint=seaweed_endpoint,
        s3_access_key="testing",
        s3_secret_key="testing",
        s3_bucket=f"settings-{uuid.uuid4().hex[:12]}",
        s3_part_size=PART_SIZE,
    )
    store = store_from_settings(settings)
    assert isinstance(store, S3Store)
    assert store.part_size == PART_SIZE
    store.put_bytes("hello", b"world")
    assert store.get_bytes("hello") == b"world"
