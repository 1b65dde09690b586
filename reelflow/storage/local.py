"""Objects as files under a root folder: the embedded default store."""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Generator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from reelflow.storage.base import (
    READ_CHUNK,
    TEMP_NAME,
    InvalidRange,
    KeyConflict,
    ObjectInfo,
    ObjectNotFound,
    Progress,
    StorageError,
    StorageUnavailable,
    UploadForm,
    UploadResume,
    atomic_temp,
    check_expiry,
    check_range,
    download_to,
)
from reelflow.storage.keys import InvalidObjectKey, KeyEscapesRoot, validate_key, validate_prefix


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def file_validator(st: os.stat_result) -> str:
    """An nginx-style validator of a stored file: changes whenever the file is replaced."""
    return f"{st.st_mtime_ns:x}-{st.st_size:x}"


class LocalStore:
    """Objects as files under ``root``. Writes are atomic (temp file, fsync, rename) and
    files are 0644 so an nginx worker running as another user can serve them."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).resolve()

    def __repr__(self) -> str:
        return f"LocalStore({str(self.root)!r})"

    # -- key -> path
    def _path(self, key: str) -> Path:
        validate_key(key)
        if TEMP_NAME.match(key.rsplit("/", 1)[-1]):
            raise InvalidObjectKey(
                f"object key {key!r} ends in a name reserved for LocalStore temp files"
            )
        path = self.root / key
        resolved = path.resolve()
        if not resolved.is_relative_to(self.root):
            raise KeyEscapesRoot(
                f"object key {key!r} resolves to {resolved}, outside the store root {self.root} "
                "(a symlink inside the store points out of it)"
            )
        return path

    def _existing_file(self, key: str) -> Path:
        path = self._path(key)
        if not path.is_file():
            raise ObjectNotFound(key)
        return path

    def _info(self, key: str, st: os.stat_result) -> ObjectInfo:
        etag = file_validator(st)
        modified = datetime.fromtimestamp(st.st_mtime, tz=UTC)
        return ObjectInfo(key=key, size=st.st_size, etag=etag, modified=modified)

    def _make_parent(self, key: str, path: Path) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise KeyConflict(
                f"cannot store {key!r}: a parent of it is already an object in {self.root}"
            )

    # -- writes
    def put_stream(
        self,
        key: str,
        stream: BinaryIO,
        length: int | None = None,
        progress: Progress | None = None,
    ) -> ObjectInfo:
        path = self._path(key)
        self._make_parent(key, path)
        tmp, fd = atomic_temp(path.parent, path.name)
        try:
            with os.fdopen(fd, "wb") as out:
                written = 0
                while True:
                    want = READ_CHUNK if length is None else min(READ_CHUNK, length - written)
                    if want == 0:
                        break
                    chunk = stream.read(want)
                    if not chunk:
                        break
                    out.write(chunk)
                    written += len(chunk)
                    if progress is not None:
                        progress(len(chunk))
                if length is not None and written != length:
                    raise StorageError(
                        f"stream for {key!r} ended after {written} bytes; expected {length}"
                    )
                out.flush()
                # The umask may have narrowed the create mode; readers run as other users.
                os.fchmod(out.fileno(), 0o644)
                os.fsync(out.fileno())
            if path.is_dir():
                raise KeyConflict(f"cannot store {key!r}: it is already a prefix of other objects")
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        _fsync_dir(path.parent)
        return self._info(key, path.stat())

    def put_file(
        self,
        key: str,
        path: Path | str,
        progress: Progress | None = None,
        resume: UploadResume | None = None,
    ) -> ObjectInfo:
        # ``resume`` is ignored: a local write is a disk copy, and a temp file is never
        # half-kept (the protocol's promise of atomic writes).
        with open(path, "rb") as src:
            return self.put_stream(key, src, progress=progress)

    def put_bytes(self, key: str, data: bytes) -> ObjectInfo:
        return self.put_stream(key, io.BytesIO(data), len(data))

    def copy(self, src_key: str, dst_key: str) -> ObjectInfo:
        self._path(dst_key)  # refuse a bad destination before touching the source
        src = self._existing_file(src_key)
        with open(src, "rb") as stream:
            return self.put_stream(dst_key, stream)

    # -- reads
    def get_file(self, key: str, path: Path | str, progress: Progress | None = None) -> Path:
        return download_to(self.open_read(key), Path(path), progress)

    def open_read(
        self, key: str, start: int = 0, length: int | None = None
    ) -> Generator[bytes, None, None]:
        check_range(start, length)
        src = self._existing_file(key)
        fh = open(src, "rb")  # noqa: SIM115 - closed by the generator below
        try:
            size = os.fstat(fh.fileno()).st_size
            if start > size:
                raise InvalidRange(f"range start {start} is past the end of {key!r} ({size} bytes)")
            fh.seek(start)
        except BaseException:
            fh.close()
            raise
        remaining = size - start if length is None else min(length, size - start)
        return _file_chunks(fh, remaining)

    def get_bytes(self, key: str) -> bytes:
        return self._existing_file(key).read_bytes()

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def stat(self, key: str) -> ObjectInfo:
        path = self._path(key)
        try:
            st = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            raise ObjectNotFound(key)
        if not path.is_file():
            raise ObjectNotFound(key)
        return self._info(key, st)

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        validate_prefix(prefix)
        folder, _, name_start = prefix.rpartition("/")
        base = self.root / folder if folder else self.root
        if base.is_symlink() or not base.resolve().is_relative_to(self.root):
            return
        yield from self._walk(base, f"{folder}/" if folder else "", name_start)

    def _walk(self, directory: Path, key_prefix: str, name_start: str) -> Iterator[ObjectInfo]:
        try:
            entries = [e for e in os.scandir(directory) if e.name.startswith(name_start)]
        except (FileNotFoundError, NotADirectoryError):
            return
        # Sort as S3 does: by full key, where a folder "a" sorts as "a/".
        entries.sort(key=lambda e: e.name + "/" if e.is_dir(follow_symlinks=False) else e.name)
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                yield from self._walk(Path(entry.path), f"{key_prefix}{entry.name}/", "")
            elif entry.is_file(follow_symlinks=False) and not TEMP_NAME.match(entry.name):
                yield self._info(key_prefix + entry.name, entry.stat(follow_symlinks=False))

    # -- deletes
    def delete(self, key: str) -> None:
        path = self._path(key)
        if path.is_dir():
            return  # a prefix, not an object
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            path.unlink()
        self._prune_empty_parents(path.parent)

    def _prune_empty_parents(self, directory: Path) -> None:
        # Empty folders are invisible in S3; removing them keeps both stores alike.
        while directory != self.root and directory.is_relative_to(self.root):
            try:
                directory.rmdir()
            except OSError:
                return
            directory = directory.parent

    def delete_prefix(self, prefix: str) -> int:
        if not prefix:
            raise InvalidObjectKey("delete_prefix needs a non-empty prefix")
        keys = [info.key for info in self.list(prefix)]
        for key in keys:
            self.delete(key)
        return len(keys)

    # -- addressing
    def url(self, key: str, expires_s: int = 3600) -> str:
        check_expiry(expires_s)
        return self._path(key).as_uri()

    def upload_form(self, key: str, max_bytes: int, expires_s: int = 3600) -> UploadForm | None:
        check_expiry(expires_s)
        self._path(key)  # the same key errors as every other call
        return None  # no server of its own to take an upload

    def local_path(self, key: str) -> Path | None:
        return self._existing_file(key)

    def healthcheck(self) -> str:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageUnavailable(f"cannot create store root {self.root}: {exc}")
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise StorageUnavailable(f"store root {self.root} is not writable")
        return f"local folder {self.root}"


def _file_chunks(fh: BinaryIO, remaining: int) -> Generator[bytes, None, None]:
    with fh:
        while remaining > 0:
            chunk = fh.read(min(READ_CHUNK, remaining))
            if not chunk:
                return
            remaining -= len(chunk)
            yield chunk
