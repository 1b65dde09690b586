"""Helpers shared by the storage tests."""

from __future__ import annotations

import hashlib
import io
import uuid
from pathlib import Path

from reelflow.storage import (
    S3Store,
)

MiB = 1024 * 1024
PART_SIZE = 5 * MiB  # the S3 minimum, so an 11 MiB file needs three parts


def s3_store(endpoint: str, bucket: str | None = None) -> S3Store:
    return S3Store(
        endpoint=endpoint,
        access_key="testing",
        secret_key="testing",
        bucket=bucket or f"t-{uuid.uuid4().hex[:20]}",
        region="us-east-1",
        secure=False,
        part_size=PART_SIZE,
    )


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class FailingReader(io.RawIOBase):
    """Yields ``good`` bytes, then raises: a network stream dying mid-upload."""

    def __init__(self, good: int) -> None:
        self.left = good

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self.left <= 0:
            raise ConnectionResetError("source went away")
        n = min(len(buffer), self.left)
        buffer[:n] = b"x" * n
        self.left -= n
        return n
