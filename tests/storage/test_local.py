"""LocalStore specifics: permissions, symlink escapes, temp names, bounded memory."""

from __future__ import annotations

import os
import stat as stat_mod
import tracemalloc
from pathlib import Path

import pytest

from reelflow.storage import (
    InvalidObjectKey,
    KeyEscapesRoot,
    LocalStore,
    StorageUnavailable,
)
from tests.storage.support import MiB


def test_local_files_world_readable(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    old = os.umask(0o077)  # a strict umask must not make objects unreadable to nginx
    try:
        store.put_bytes("a/b.m4s", b"x")
    finally:
        os.umask(old)
    assert stat_mod.S_IMODE((tmp_path / "a" / "b.m4s").stat().st_mode) == 0o644


def test_local_symlink_escape_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"secret")
    store = LocalStore(tmp_path / "root")
    store.put_bytes("ok", b"fine")
    (store.root / "link").symlink_to(outside, target_is_directory=True)
    with pytest.raises(KeyEscapesRoot, match="outside the store root"):
        store.get_bytes("link/secret")
    with pytest.raises(KeyEscapesRoot):
        store.put_bytes("link/planted", b"x")
    assert not (outside / "planted").exists()
    with pytest.raises(KeyEscapesRoot):
        store.exists("link/secret")
    # Listing neither follows nor reports the escaping link.
    assert [i.key for i in store.list("")] == ["ok"]
    assert list(store.list("link/")) == []


def test_local_symlinked_file_escape_refused(tmp_path: Path) -> None:
    (tmp_path / "passwd").write_bytes(b"root:x")
    store = LocalStore(tmp_path / "root")
    store.root.mkdir()
    (store.root / "f").symlink_to(tmp_path / "passwd")
    with pytest.raises(KeyEscapesRoot):
        store.local_path("f")


def test_local_temp_name_reserved(tmp_path: Path) -> None:
    with pytest.raises(InvalidObjectKey, match="reserved"):
        LocalStore(tmp_path).put_bytes("a/.x.0123456789abcdef.rftmp", b"x")


def test_local_delete_prunes_empty_folders(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "root")
    store.put_bytes("t/1/a/b", b"x")
    store.put_bytes("t/2", b"y")
    store.delete("t/1/a/b")
    assert sorted(p.name for p in (store.root / "t").iterdir()) == ["2"]


def test_local_write_memory_is_bounded(tmp_path: Path, big_file: Path) -> None:
    store = LocalStore(tmp_path)
    tracemalloc.start()
    try:
        store.put_file("big", big_file)
        for _ in store.open_read("big"):
            pass
        store.get_file("big", tmp_path / "copy.bin")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * MiB, f"peak {peak} bytes for an {big_file.stat().st_size}-byte file"


def test_local_healthcheck_unwritable(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(StorageUnavailable):
        LocalStore(tmp_path / "file" / "root").healthcheck()
