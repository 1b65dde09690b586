"""Object storage: one ``ObjectStore`` protocol, a local folder and an S3-compatible bucket.

Everything that moves media between processes goes through an ``ObjectStore`` by key
(``titles/42/master.mov``), never by path, so the same activities run against a folder
on one machine and against SeaweedFS/MinIO/S3/R2 in a fleet. Both stores stream: no operation
except ``get_bytes``/``put_bytes`` holds a whole object in memory, and S3 uploads larger
than the part size go multipart.

Keys are validated identically by both stores (``validate_key``), so a key that works in
development cannot fail in production, and nothing can address a path outside the store.

Modules: ``keys`` (the key rule), ``base`` (the protocol, errors, shared file helpers),
``local`` (``LocalStore``) and ``s3`` (``S3Store``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from reelflow.storage.base import (
    InvalidRange,
    KeyConflict,
    ObjectInfo,
    ObjectNotFound,
    ObjectStore,
    StorageError,
    StorageUnavailable,
)
from reelflow.storage.keys import InvalidObjectKey, KeyEscapesRoot, validate_key, validate_prefix
from reelflow.storage.local import LocalStore
from reelflow.storage.s3 import S3Store

if TYPE_CHECKING:
    from reelflow.config import Settings


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
    "store_from_settings",
    "validate_key",
    "validate_prefix",
]
