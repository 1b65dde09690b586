"""Object storage: one ``ObjectStore`` protocol, a local folder and an S3-compatible bucket.

Everything that moves media between processes goes through an ``ObjectStore`` by key
(``titles/42/master.mov``), never by path, so the same activities run against a folder
on one machine and against MinIO/S3/R2 in a fleet. Both stores stream: no operation
except ``get_bytes``/``put_bytes`` holds a whole object in memory, and S3 uploads larger
than the part size go multipart.

Keys are validated identically by both stores (``validate_key``), so a key that works in
development cannot fail in production, and nothing can address a path outside the store.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import secrets
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol, cast, runtime_checkable
from urllib.parse import urlsplit

if TYPE_CHECKING:
    import urllib3
    from minio import Minio
    from urllib3 import BaseHTTPResponse

    from reelflow.config import Settings

MAX_KEY_BYTES = 1024
# Filesystems cap one name at 255 bytes; enforcing it for S3 too keeps keys portable.
MAX_SEGMENT_BYTES = 255
READ_CHUNK = 1024 * 1024
# S3 refuses parts under 5 MiB (except the last) and over 5 GiB.
MIN_PART_SIZE = 5 * 1024 * 1024
MAX_PART_SIZE = 5 * 1024 * 1024 * 1024
MAX_PRESIGN_SECONDS = 7 * 24 * 3600
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")
# LocalStore's in-flight temp files; keys whose last segment looks like one are refused
# there, so a listing can skip temp files without hiding a real object.
_TEMP_NAME = re.compile(r"^\..+\.[0-9a-f]{16}\.rftmp$")


# ---- errors -------------------------------------------------------------------------------
class StorageError(RuntimeError):
    """An object store operation failed; the message names the key and the cause."""


class ObjectNotFound(StorageError):
    """No object exists under the key."""

    def __init__(self, key: str) -> None:
        super().__init__(f"object not found: {key!r}")
        self.key = key


class StorageUnavailable(StorageError):
    """The store cannot be reached or used (endpoint down, credentials wrong, root unwritable)."""


class KeyConflict(StorageError):
    """LocalStore only: a key and a key prefix collide (``a`` is an object and ``a/b`` is asked)."""


class InvalidRange(StorageError, ValueError):
    """A byte range starts past the end of the object or is negative."""


class InvalidObjectKey(ValueError):
    """The key (or prefix) is not acceptable; the message names the problem."""


class KeyEscapesRoot(InvalidObjectKey):
    """LocalStore only: the key resolves (through a symlink) outside the store root."""


# ---- keys -----------------------------------------------------------------------------------
def validate_key(key: object) -> str:
    """Return ``key`` unchanged if it is a safe object key, else raise ``InvalidObjectKey``.

    Safe means: a non-empty str of at most 1024 UTF-8 bytes; ``/``-separated segments, each
    non-empty, not ``.`` or ``..``, at most 255 bytes; no leading ``/``, no backslash, no
    NUL or other control characters.
    """
    if not isinstance(key, str):
        raise InvalidObjectKey(f"object key must be a str, got {type(key).__name__}")
    if not key:
        raise InvalidObjectKey("object key is empty")
    try:
        encoded = key.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidObjectKey(f"object key {key!r} is not valid UTF-8 (lone surrogate)")
    if len(encoded) > MAX_KEY_BYTES:
        raise InvalidObjectKey(
            f"object key is {len(encoded)} bytes in UTF-8; the maximum is {MAX_KEY_BYTES}"
        )
    if "\x00" in key:
        raise InvalidObjectKey(f"object key {key!r} contains a NUL character")
    if _CONTROL_CHARS.search(key):
        raise InvalidObjectKey(f"object key {key!r} contains a control character")
    if "\\" in key:
        raise InvalidObjectKey(f"object key {key!r} contains a backslash; use '/' to separate")
    if key.startswith("/"):
        raise InvalidObjectKey(f"object key {key!r} starts with '/'; keys are relative")
    for segment in key.split("/"):
        if segment == "":
            raise InvalidObjectKey(
                f"object key {key!r} has an empty segment ('//' or trailing '/')"
            )
        if segment in (".", ".."):
            raise InvalidObjectKey(f"object key {key!r} has a {segment!r} segment")
        if len(segment.encode("utf-8")) > MAX_SEGMENT_BYTES:
            raise InvalidObjectKey(
                f"object key has a segment of {len(segment.encode('utf-8'))} bytes; "
                f"the maximum between '/' is {MAX_SEGMENT_BYTES}"
            )
    return key


def validate_prefix(prefix: object) -> str:
    """Validate a listing prefix: empty (everything), or a key with an optional trailing '/'."""
    if prefix == "":
        return ""
    if not isinstance(prefix, str):
        raise InvalidObjectKey(f"prefix must be a str, got {type(prefix).__name__}")
    stem = prefix[:-1] if prefix.endswith("/") else prefix
    try:
        validate_key(stem)
    except InvalidObjectKey as exc:
        raise InvalidObjectKey(f"invalid prefix {prefix!r}: {exc}") from None
    return prefix


def _check_range(start: int, length: int | None) -> None:
    if start < 0:
        raise InvalidRange(f"range start must be >= 0, got {start}")
    if length is not None and length < 0:
        raise InvalidRange(f"range length must be >= 0 or None, got {length}")


# ---- the protocol -------------------------------------------------------------------------
@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    etag: str | None
    modified: datetime  # timezone-aware UTC


@runtime_checkable
class ObjectStore(Protocol):
    """What every store offers. All keys go through ``validate_key``."""

    def put_file(self, key: str, path: Path | str) -> ObjectInfo:
        """Upload a local file by streaming (multipart on S3 above the part size)."""
        ...

    def put_stream(self, key: str, stream: BinaryIO, length: int | None = None) -> ObjectInfo:
        """Upload from a readable binary stream; if reading fails, no object is left."""
        ...

    def put_bytes(self, key: str, data: bytes) -> ObjectInfo: ...

    def get_file(self, key: str, path: Path | str) -> Path:
        """Download to ``path`` atomically (temp file in the same folder, then rename)."""
        ...

    def open_read(
        self, key: str, start: int = 0, length: int | None = None
    ) -> Generator[bytes, None, None]:
        """Stream ``length`` bytes (None: to the end) from ``start``.

        Raises ``ObjectNotFound``/``InvalidRange`` at call time (before the first chunk),
        so an HTTP handler can answer 404/416 before sending headers. A range running
        past the end is truncated; ``start == size`` yields nothing. Call ``.close()``
        on the generator when abandoning it early to release the file/connection.
        """
        ...

    def get_bytes(self, key: str) -> bytes: ...

    def exists(self, key: str) -> bool: ...

    def stat(self, key: str) -> ObjectInfo: ...

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Every object whose key starts with ``prefix`` (a plain string prefix), recursive,
        in lexicographic key order."""
        ...

    def delete(self, key: str) -> None:
        """Remove the object; a missing object is not an error."""
        ...

    def delete_prefix(self, prefix: str) -> int:
        """Remove every object under a non-empty prefix; returns how many were removed."""
        ...

    def copy(self, src_key: str, dst_key: str) -> ObjectInfo: ...

    def url(self, key: str, expires_s: int = 3600) -> str:
        """A URL that reads the object: presigned GET on S3, file:// for LocalStore."""
        ...

    def local_path(self, key: str) -> Path | None:
        """The object's file when it lives on this machine's filesystem (LocalStore), else
        None: tools like ffmpeg can then read it in place instead of a downloaded copy."""
        ...

    def healthcheck(self) -> str:
        """Return a one-line description of a usable store, or raise StorageUnavailable."""
        ...


# ---- local folder -------------------------------------------------------------------------
def _atomic_temp(directory: Path, name: str) -> tuple[Path, int]:
    """Create a fresh temp file next to its final name; returns (path, fd)."""
    # Truncated so the temp name stays within the 255-byte filename limit.
    stem = name.encode()[:200].decode(errors="ignore")
    tmp = directory / f".{stem}.{secrets.token_hex(8)}.rftmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    return tmp, fd


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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
        if _TEMP_NAME.match(key.rsplit("/", 1)[-1]):
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
        # An nginx-style validator: changes whenever the file is replaced.
        etag = f"{st.st_mtime_ns:x}-{st.st_size:x}"
        modified = datetime.fromtimestamp(st.st_mtime, tz=UTC)
        return ObjectInfo(key=key, size=st.st_size, etag=etag, modified=modified)

    def _make_parent(self, key: str, path: Path) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise KeyConflict(
                f"cannot store {key!r}: a parent of it is already an object in {self.root}"
            )

    def _write(self, key: str, stream: BinaryIO, length: int | None = None) -> ObjectInfo:
        path = self._path(key)
        self._make_parent(key, path)
        tmp, fd = _atomic_temp(path.parent, path.name)
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

    # -- writes
    def put_file(self, key: str, path: Path | str) -> ObjectInfo:
        with open(path, "rb") as src:
            return self._write(key, src)

    def put_stream(self, key: str, stream: BinaryIO, length: int | None = None) -> ObjectInfo:
        return self._write(key, stream, length)

    def put_bytes(self, key: str, data: bytes) -> ObjectInfo:
        return self._write(key, io.BytesIO(data), len(data))

    def copy(self, src_key: str, dst_key: str) -> ObjectInfo:
        self._path(dst_key)  # refuse a bad destination before touching the source
        src = self._existing_file(src_key)
        with open(src, "rb") as stream:
            return self._write(dst_key, stream)

    # -- reads
    def get_file(self, key: str, path: Path | str) -> Path:
        return _download(self.open_read(key), Path(path))

    def open_read(
        self, key: str, start: int = 0, length: int | None = None
    ) -> Generator[bytes, None, None]:
        _check_range(start, length)
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
            elif entry.is_file(follow_symlinks=False) and not _TEMP_NAME.match(entry.name):
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
        _check_expiry(expires_s)
        return self._path(key).as_uri()

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


def _download(chunks: Generator[bytes, None, None], dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp, fd = _atomic_temp(dest.parent, dest.name)
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                out.write(chunk)
        os.replace(tmp, dest)
    except BaseException:
        chunks.close()
        tmp.unlink(missing_ok=True)
        raise
    return dest


def _check_expiry(expires_s: int) -> None:
    if not 1 <= expires_s <= MAX_PRESIGN_SECONDS:
        raise ValueError(f"expires_s must be between 1 and {MAX_PRESIGN_SECONDS}, got {expires_s}")


# ---- S3-compatible bucket -----------------------------------------------------------------
_NOT_FOUND_CODES = frozenset({"NoSuchKey", "NoSuchBucket", "NoSuchObject", "ResourceNotFound"})


class S3Store:
    """Objects in one bucket of an S3-compatible service (MinIO, AWS S3, R2) via the minio SDK.

    The bucket is created on the first write (or ``healthcheck``) if it does not exist, so
    constructing a store does no network I/O and a process can start before its MinIO.
    """

    def __init__(
        self,
        endpoint: str,
        access_key: str,
        secret_key: str,
        bucket: str,
        region: str = "us-east-1",
        secure: bool = False,
        part_size: int = 16 * 1024 * 1024,
        http_client: urllib3.PoolManager | None = None,
    ) -> None:
        from minio import Minio
        from minio.helpers import check_bucket_name

        try:
            check_bucket_name(bucket)
        except ValueError:
            raise ValueError(
                f"invalid S3 bucket name {bucket!r}: 3-63 chars of a-z, 0-9, '.', '-'"
            ) from None
        if not MIN_PART_SIZE <= part_size <= MAX_PART_SIZE:
            raise ValueError(
                f"part_size must be between {MIN_PART_SIZE} (5 MiB) and {MAX_PART_SIZE} bytes, "
                f"got {part_size}"
            )
        # Accept "http(s)://host:port" as well as the SDK's bare "host:port".
        if "://" in endpoint:
            parts = urlsplit(endpoint)
            if parts.path not in ("", "/"):
                raise ValueError(f"S3 endpoint {endpoint!r} must not have a path")
            secure = parts.scheme == "https"
            endpoint = parts.netloc
        self.endpoint = endpoint
        self.bucket = bucket
        self.part_size = part_size
        self.client: Minio = Minio(
            endpoint,
            access_key=access_key,
            secret_key=secret_key,
            secure=secure,
            region=region,
            http_client=http_client,  # None: the SDK's pool (5 retries, 5 min read timeout)
        )
        self._bucket_ready = False

    def __repr__(self) -> str:
        return f"S3Store(endpoint={self.endpoint!r}, bucket={self.bucket!r})"

    # -- error mapping: callers never see minio or urllib3 exception types
    @contextlib.contextmanager
    def _errors(self, op: str, key: str) -> Iterator[None]:
        from minio.error import MinioException, S3Error
        from urllib3.exceptions import HTTPError

        try:
            yield
        except S3Error as exc:
            if exc.code in _NOT_FOUND_CODES:
                raise ObjectNotFound(key) from exc
            raise StorageError(f"S3 {op} {key!r} in {self.bucket!r}: {exc.code}: {exc.message}")
        except MinioException as exc:
            raise StorageError(f"S3 {op} {key!r} in {self.bucket!r}: {exc}") from exc
        except HTTPError as exc:
            raise StorageUnavailable(f"S3 endpoint {self.endpoint} unreachable during {op}: {exc}")

    def _ensure_bucket(self) -> None:
        if self._bucket_ready:
            return
        with self._errors("create bucket", ""):
            if not self.client.bucket_exists(self.bucket):
                from minio.error import S3Error

                try:
                    self.client.make_bucket(self.bucket)
                except S3Error as exc:
                    # Another process created it between our check and our create.
                    if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                        raise
        self._bucket_ready = True

    # -- writes
    def put_file(self, key: str, path: Path | str) -> ObjectInfo:
        validate_key(key)
        self._ensure_bucket()
        with self._errors("upload", key):
            # fput_object reads one part at a time (a few parts in flight in parallel).
            self.client.fput_object(self.bucket, key, str(path), part_size=self.part_size)
        return self.stat(key)

    def put_stream(self, key: str, stream: BinaryIO, length: int | None = None) -> ObjectInfo:
        validate_key(key)
        self._ensure_bucket()
        with self._errors("upload", key):
            # On a read error the SDK aborts the multipart upload: no object appears.
            self.client.put_object(
                self.bucket,
                key,
                stream if length is None else cast(BinaryIO, _ExactLength(stream, length, key)),
                length=-1 if length is None else length,
                part_size=self.part_size,
            )
        return self.stat(key)

    def put_bytes(self, key: str, data: bytes) -> ObjectInfo:
        return self.put_stream(key, io.BytesIO(data), len(data))

    def copy(self, src_key: str, dst_key: str) -> ObjectInfo:
        from minio.commonconfig import CopySource

        validate_key(src_key)
        validate_key(dst_key)
        self._ensure_bucket()
        with self._errors("copy", src_key):
            self.client.copy_object(self.bucket, dst_key, CopySource(self.bucket, src_key))
        return self.stat(dst_key)

    # -- reads
    def get_file(self, key: str, path: Path | str) -> Path:
        return _download(self.open_read(key), Path(path))

    def open_read(
        self, key: str, start: int = 0, length: int | None = None
    ) -> Generator[bytes, None, None]:
        from minio.error import S3Error

        validate_key(key)
        _check_range(start, length)
        if length == 0:
            # The SDK reads length=0 as "to the end"; an empty range still needs the object.
            info = self.stat(key)
            if start > info.size:
                raise InvalidRange(f"range start {start} is past the end of {key!r}")
            return _empty()
        try:
            response = self.client.get_object(self.bucket, key, offset=start, length=length or 0)
        except S3Error as exc:
            if exc.code != "InvalidRange":
                with self._errors("read", key):
                    raise
            info = self.stat(key)
            if start == info.size:
                return _empty()  # S3 answers 416 for a range starting at the end
            raise InvalidRange(
                f"range start {start} is past the end of {key!r} ({info.size} bytes)"
            ) from None
        except Exception:
            with self._errors("read", key):
                raise
        return self._response_chunks(key, response)

    def _response_chunks(
        self, key: str, response: BaseHTTPResponse
    ) -> Generator[bytes, None, None]:
        try:
            with self._errors("read", key):
                yield from response.stream(READ_CHUNK)
        finally:
            response.close()
            response.release_conn()

    def get_bytes(self, key: str) -> bytes:
        return b"".join(self.open_read(key))

    def exists(self, key: str) -> bool:
        try:
            self.stat(key)
        except ObjectNotFound:
            return False
        return True

    def stat(self, key: str) -> ObjectInfo:
        validate_key(key)
        with self._errors("stat", key):
            obj = self.client.stat_object(self.bucket, key)
        return _object_info(key, obj.size, obj.etag, obj.last_modified)

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        validate_prefix(prefix)
        with self._errors("list", prefix):
            for obj in self.client.list_objects(self.bucket, prefix=prefix, recursive=True):
                if obj.object_name is None or obj.is_dir:
                    continue
                yield _object_info(obj.object_name, obj.size, obj.etag, obj.last_modified)

    # -- deletes
    def delete(self, key: str) -> None:
        validate_key(key)
        with contextlib.suppress(ObjectNotFound), self._errors("delete", key):
            self.client.remove_object(self.bucket, key)

    def delete_prefix(self, prefix: str) -> int:
        from minio.deleteobjects import DeleteObject

        if not prefix:
            raise InvalidObjectKey("delete_prefix needs a non-empty prefix")
        keys = [info.key for info in self.list(prefix)]
        # remove_objects batches 1000 keys per request; its iterator must be drained.
        with self._errors("delete", prefix):
            errors = list(self.client.remove_objects(self.bucket, (DeleteObject(k) for k in keys)))
        if errors:
            first = errors[0]
            raise StorageError(
                f"S3 delete under {prefix!r}: {len(errors)} objects failed, "
                f"first {first.name!r}: {first.code}: {first.message}"
            )
        return len(keys)

    # -- addressing
    def url(self, key: str, expires_s: int = 3600) -> str:
        validate_key(key)
        _check_expiry(expires_s)
        with self._errors("presign", key):
            url: str = self.client.presigned_get_object(
                self.bucket, key, expires=timedelta(seconds=expires_s)
            )
        return url

    def local_path(self, key: str) -> Path | None:
        validate_key(key)
        return None

    def healthcheck(self) -> str:
        self._bucket_ready = False
        try:
            self._ensure_bucket()
        except StorageError as exc:
            raise StorageUnavailable(f"S3 bucket {self.bucket!r} at {self.endpoint}: {exc}")
        return f"s3 bucket {self.bucket!r} at {self.endpoint}"


class _ExactLength(io.RawIOBase):
    """Raise StorageError when a stream ends before its declared length (the SDK would
    raise a bare OSError, indistinguishable from the source failing)."""

    def __init__(self, stream: BinaryIO, length: int, key: str) -> None:
        self._stream, self._left, self._length, self._key = stream, length, length, key

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        want = self._left if size < 0 else min(size, self._left)
        data = self._stream.read(want) if want else b""
        if want and not data:
            raise StorageError(
                f"stream for {self._key!r} ended after {self._length - self._left} bytes; "
                f"expected {self._length}"
            )
        self._left -= len(data)
        return data


def _object_info(
    key: str, size: int | None, etag: str | None, modified: datetime | None
) -> ObjectInfo:
    return ObjectInfo(
        key=key,
        size=size or 0,
        etag=etag.strip('"') if etag else None,
        modified=modified if modified is not None else datetime.now(UTC),
    )


def _empty() -> Generator[bytes, None, None]:
    yield from ()


# ---- helpers for callers ------------------------------------------------------------------
def sha256_of(store: ObjectStore, key: str) -> str:
    """Hex SHA-256 of an object, streamed (for integrity checks after ingest)."""
    digest = hashlib.sha256()
    for chunk in store.open_read(key):
        digest.update(chunk)
    return digest.hexdigest()


def store_from_settings(settings: Settings) -> ObjectStore:
    """The store the settings describe: a LocalStore under the state dir by default."""
    if settings.store == "local":
        return LocalStore(settings.resolved_store_root)
    return S3Store(
        endpoint=settings.s3_endpoint,
        access_key=settings.s3_access_key,
        secret_key=settings.s3_secret_key.get_secret_value(),
        bucket=settings.s3_bucket,
        region=settings.s3_region,
        secure=settings.s3_secure,
        part_size=settings.s3_part_size,
    )


__all__ = [
    "InvalidObjectKey",
    "InvalidRange",
    "KeyConflict",
    "KeyEscapesRoot",
    "LocalStore",
    "ObjectInfo",
    "ObjectNotFound",
    "ObjectStore",
    "S3Store",
    "StorageError",
    "StorageUnavailable",
    "sha256_of",
    "store_from_settings",
    "validate_key",
    "validate_prefix",
]
