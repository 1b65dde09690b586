"""What every object store offers (``ObjectStore``), its errors, and the file helpers both
stores share (atomic temp files next to their final name, range and expiry checks)."""

from __future__ import annotations

import io
import os
import re
import secrets
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, Protocol, runtime_checkable

READ_CHUNK = 1024 * 1024
# Called with the byte count of each block moved, from the thread doing the copy (S3's
# parallel part uploads call it from the caller's thread as parts complete).
Progress = Callable[[int], None]
MAX_PRESIGN_SECONDS = 7 * 24 * 3600
# LocalStore's in-flight temp files; keys whose last segment looks like one are refused
# there, so a listing can skip temp files without hiding a real object.
TEMP_NAME = re.compile(r"^\..+\.[0-9a-f]{16}\.rftmp$")


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


def check_range(start: int, length: int | None) -> None:
    if start < 0:
        raise InvalidRange(f"range start must be >= 0, got {start}")
    if length is not None and length < 0:
        raise InvalidRange(f"range length must be >= 0 or None, got {length}")


@dataclass
class UploadResume:
    """A long upload's state that can outlive the attempt making it.

    The caller keeps ``state`` somewhere that survives a crash (an activity's heartbeat
    details), gets told of every change through ``on_change``, and passes the last state
    back on retry. Only S3Store uses it (a multipart upload's id and part size: the parts
    themselves are listed from the server and reused only when their ETag matches the
    local bytes); LocalStore writes to local disk and starts over.
    """

    state: dict[str, Any] = field(default_factory=dict)
    on_change: Callable[[dict[str, Any]], None] | None = None
    reused_parts: int = 0  # parts a resumed upload did not send again

    def update(self, state: dict[str, Any]) -> None:
        self.state = state
        if self.on_change is not None:
            self.on_change(state)


@dataclass(frozen=True)
class UploadForm:
    """A presigned POST: send ``fields``, then the file last (field ``file``), as
    multipart/form-data to ``url``. The signed policy inside allows exactly one key and a
    body of 1 to ``max_bytes`` bytes until it expires."""

    url: str
    fields: dict[str, str]
    max_bytes: int


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

    def put_file(
        self,
        key: str,
        path: Path | str,
        progress: Progress | None = None,
        resume: UploadResume | None = None,
    ) -> ObjectInfo:
        """Upload a local file by streaming (multipart on S3 above the part size).

        ``resume``: continue the multipart upload a killed attempt left (S3); with it, a
        failed upload is left for the retry instead of being aborted.
        """
        ...

    def put_stream(
        self,
        key: str,
        stream: BinaryIO,
        length: int | None = None,
        progress: Progress | None = None,
    ) -> ObjectInfo:
        """Upload from a readable binary stream; if reading fails, no object is left."""
        ...

    def put_bytes(self, key: str, data: bytes) -> ObjectInfo: ...

    def get_file(self, key: str, path: Path | str, progress: Progress | None = None) -> Path:
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

    def upload_form(self, key: str, max_bytes: int, expires_s: int = 3600) -> UploadForm | None:
        """A form a third party may POST the object's bytes with, no other credentials: a
        presigned POST policy on S3 that names this key and refuses a body larger than
        ``max_bytes`` (checked by the store itself). None when the store has no such thing
        (LocalStore)."""
        ...

    def local_path(self, key: str) -> Path | None:
        """The object's file when it lives on this machine's filesystem (LocalStore), else
        None: tools like ffmpeg can then read it in place instead of a downloaded copy."""
        ...

    def healthcheck(self) -> str:
        """Return a one-line description of a usable store, or raise StorageUnavailable."""
        ...


def atomic_temp(directory: Path, name: str) -> tuple[Path, int]:
    """Create a fresh temp file next to its final name; returns (path, fd)."""
    # Truncated so the temp name stays within the 255-byte filename limit.
    stem = name.encode()[:200].decode(errors="ignore")
    tmp = directory / f".{stem}.{secrets.token_hex(8)}.rftmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    return tmp, fd


def download_to(
    chunks: Generator[bytes, None, None], dest: Path, progress: Progress | None = None
) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp, fd = atomic_temp(dest.parent, dest.name)
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                out.write(chunk)
                if progress is not None:
                    progress(len(chunk))
        os.replace(tmp, dest)
    except BaseException:
        chunks.close()
        tmp.unlink(missing_ok=True)
        raise
    return dest


class CountingReader(io.RawIOBase):
    """A readable stream that reports every block read from ``stream`` to ``progress``."""

    def __init__(self, stream: BinaryIO, progress: Progress) -> None:
        self._stream, self._progress = stream, progress

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        if data:
            self._progress(len(data))
        return data


def check_expiry(expires_s: int) -> None:
    if not 1 <= expires_s <= MAX_PRESIGN_SECONDS:
        raise ValueError(f"expires_s must be between 1 and {MAX_PRESIGN_SECONDS}, got {expires_s}")
