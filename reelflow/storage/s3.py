"""Objects in a bucket of an S3-compatible service (SeaweedFS, MinIO, AWS S3, R2).

Files over one part go up as a resumable multipart upload (``s3_multipart``): a killed
attempt is continued from the parts the server holds.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Generator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, cast
from urllib.parse import urlsplit

from reelflow.storage.base import (
    READ_CHUNK,
    CountingReader,
    InvalidRange,
    ObjectInfo,
    ObjectNotFound,
    Progress,
    StorageError,
    StorageUnavailable,
    UploadForm,
    UploadResume,
    check_expiry,
    check_range,
    download_to,
)
from reelflow.storage.keys import InvalidObjectKey, validate_key, validate_prefix
from reelflow.storage.s3_multipart import upload_file

if TYPE_CHECKING:
    import urllib3
    from minio import Minio
    from urllib3 import BaseHTTPResponse

# S3 refuses parts under 5 MiB (except the last) and over 5 GiB.
MIN_PART_SIZE = 5 * 1024 * 1024
MAX_PART_SIZE = 5 * 1024 * 1024 * 1024

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
        self._secure = secure

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
    def put_file(
        self,
        key: str,
        path: Path | str,
        progress: Progress | None = None,
        resume: UploadResume | None = None,
    ) -> ObjectInfo:
        validate_key(key)
        self._ensure_bucket()
        size = Path(path).stat().st_size
        with self._errors("upload", key):
            if size <= self.part_size:
                with open(path, "rb") as fh:
                    body = CountingReader(fh, progress) if progress else fh
                    self.client.put_object(
                        self.bucket, key, cast(BinaryIO, body), size, part_size=self.part_size
                    )
            else:
                upload_file(
                    self.client,
                    self.bucket,
                    key,
                    Path(path),
                    size,
                    part_size=self.part_size,
                    progress=progress,
                    resume=resume,
                )
        return self.stat(key)

    def put_stream(
        self,
        key: str,
        stream: BinaryIO,
        length: int | None = None,
        progress: Progress | None = None,
    ) -> ObjectInfo:
        validate_key(key)
        self._ensure_bucket()
        body: BinaryIO = (
            stream if length is None else cast(BinaryIO, _ExactLength(stream, length, key))
        )
        if progress is not None:
            body = cast(BinaryIO, CountingReader(body, progress))
        with self._errors("upload", key):
            # On a read error the SDK aborts the multipart upload: no object appears.
            self.client.put_object(
                self.bucket,
                key,
                body,
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
    def get_file(self, key: str, path: Path | str, progress: Progress | None = None) -> Path:
        return download_to(self.open_read(key), Path(path), progress)

    def open_read(
        self, key: str, start: int = 0, length: int | None = None
    ) -> Generator[bytes, None, None]:
        from minio.error import S3Error

        validate_key(key)
        check_range(start, length)
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
            listed = self.client.list_objects(self.bucket, prefix=prefix, recursive=True)
            # Sorted here: AWS lists in byte order, but filer-backed servers (SeaweedFS)
            # walk directories, putting "t/1/a" before "t/1.txt".
            objects = sorted(
                (o for o in listed if o.object_name is not None and not o.is_dir),
                key=lambda o: o.object_name or "",
            )
        for obj in objects:
            yield _object_info(obj.object_name or "", obj.size, obj.etag, obj.last_modified)

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
        check_expiry(expires_s)
        with self._errors("presign", key):
            url: str = self.client.presigned_get_object(
                self.bucket, key, expires=timedelta(seconds=expires_s)
            )
        return url

    def upload_form(self, key: str, max_bytes: int, expires_s: int = 3600) -> UploadForm | None:
        from minio.datatypes import PostPolicy

        validate_key(key)
        check_expiry(expires_s)
        if max_bytes < 1:
            raise ValueError(f"max_bytes must be >= 1, got {max_bytes}")
        self._ensure_bucket()  # a POST to a missing bucket would fail at the uploader's end
        policy = PostPolicy(self.bucket, datetime.now(UTC) + timedelta(seconds=expires_s))
        policy.add_equals_condition("key", key)
        # The store refuses a body outside this range (EntityTooLarge / EntityTooSmall),
        # whatever the uploader claims: the limit is part of the signed policy.
        policy.add_content_length_range_condition(1, max_bytes)
        with self._errors("presign upload", key):
            fields: dict[str, str] = self.client.presigned_post_policy(policy)
        scheme = "https" if self._secure else "http"
        return UploadForm(
            url=f"{scheme}://{self.endpoint}/{self.bucket}",
            fields={"key": key, **fields},
            max_bytes=max_bytes,
        )

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
