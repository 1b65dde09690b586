"""A resumable S3 multipart upload of one file, driven through the SDK's low-level calls.

A killed attempt can be continued: the upload id and part size go to the caller's
``UploadResume``, and a retry lists the parts the server holds and sends only those it
lacks or whose ETag (the part's MD5) differs from the local bytes. Without a resume, a
failed upload is aborted (an unfinished upload is billed and invisible).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from reelflow.storage.base import Progress, UploadResume

if TYPE_CHECKING:
    from minio import Minio

MAX_PARTS = 10_000  # S3's limit per multipart upload
PARALLEL_PARTS = 3  # parts in flight (and in memory) at once

_PartFuture = concurrent.futures.Future[tuple[int, str, int]]


@dataclass
class _Upload:
    """One multipart upload in flight: where it goes and what the server already holds."""

    client: Minio
    bucket: str
    key: str
    upload_id: str
    part_size: int
    held: dict[int, str] = field(default_factory=dict)  # part number -> ETag on the server
    etags: dict[int, str] = field(default_factory=dict)  # part number -> ETag of this file

    def send_part(self, number: int, data: bytes) -> tuple[int, str, int]:
        etag = self.client._upload_part(self.bucket, self.key, data, None, self.upload_id, number)
        return number, etag.strip('"'), len(data)

    def collect(self, done: set[_PartFuture], progress: Progress | None) -> None:
        for future in done:
            number, etag, sent = future.result()
            self.etags[number] = etag
            if progress is not None:
                progress(sent)


def upload_file(
    client: Minio,
    bucket: str,
    key: str,
    path: Path,
    size: int,
    *,
    part_size: int,
    progress: Progress | None,
    resume: UploadResume | None,
) -> None:
    """Upload ``path`` as ``key`` in parts, continuing the upload ``resume`` names if the
    server still holds it."""
    from minio.datatypes import Part

    upload = _resumed(client, bucket, key, size, resume) or _started(
        client, bucket, key, size, part_size, resume
    )
    try:
        _send_parts(upload, path, progress, resume)
        parts = [Part(n, upload.etags[n]) for n in sorted(upload.etags)]
        client._complete_multipart_upload(bucket, key, upload.upload_id, parts)
    except BaseException:
        if resume is None:
            # Nobody will continue it: don't leave a billed, invisible upload behind.
            with contextlib.suppress(Exception):
                client._abort_multipart_upload(bucket, key, upload.upload_id)
        raise


def _resumed(
    client: Minio, bucket: str, key: str, size: int, resume: UploadResume | None
) -> _Upload | None:
    """The upload ``resume`` names, if it is for this key and size and still on the server."""
    state = resume.state if resume is not None else {}
    if not (state.get("key") == key and state.get("size") == size and state.get("upload_id")):
        return None
    upload_id, part_size = str(state["upload_id"]), int(state["part_size"])
    held = listed_parts(client, bucket, key, upload_id)
    if held is None:
        return None  # aborted or expired: start over
    return _Upload(client, bucket, key, upload_id, part_size, held)


def _started(
    client: Minio,
    bucket: str,
    key: str,
    size: int,
    part_size: int,
    resume: UploadResume | None,
) -> _Upload:
    # Big enough to stay under S3's part-count limit.
    part_size = max(part_size, -(-size // MAX_PARTS))
    upload_id = client._create_multipart_upload(
        bucket, key, {"Content-Type": "application/octet-stream"}
    )
    if resume is not None:
        resume.update({"key": key, "upload_id": upload_id, "part_size": part_size, "size": size})
    return _Upload(client, bucket, key, upload_id, part_size)


def _send_parts(
    upload: _Upload, path: Path, progress: Progress | None, resume: UploadResume | None
) -> None:
    """Read the file part by part; send (``PARALLEL_PARTS`` at a time) each part the
    server does not hold with the same MD5."""
    with (
        open(path, "rb") as fh,
        concurrent.futures.ThreadPoolExecutor(PARALLEL_PARTS) as pool,
    ):
        pending: set[_PartFuture] = set()
        number = 0
        while data := fh.read(upload.part_size):
            number += 1
            md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
            if upload.held.get(number) == md5:
                upload.etags[number] = md5
                if resume is not None:
                    resume.reused_parts += 1
                if progress is not None:
                    progress(len(data))
                continue
            while len(pending) >= PARALLEL_PARTS:
                done, pending = concurrent.futures.wait(
                    pending, return_when=concurrent.futures.FIRST_COMPLETED
                )
                upload.collect(done, progress)
            pending.add(pool.submit(upload.send_part, number, data))
        upload.collect(concurrent.futures.wait(pending).done, progress)


def listed_parts(client: Minio, bucket: str, key: str, upload_id: str) -> dict[int, str] | None:
    """Part number -> ETag of what the server holds; None if the upload is gone."""
    from minio.error import S3Error

    held: dict[int, str] = {}
    marker: str | None = None
    try:
        while True:
            page = client._list_parts(bucket, key, upload_id, part_number_marker=marker)
            held.update((p.part_number, p.etag.strip('"')) for p in page.parts)
            if not page.is_truncated or not page.next_part_number_marker:
                return held
            marker = page.next_part_number_marker
    except S3Error as exc:
        if exc.code == "NoSuchUpload":
            return None
        raise
