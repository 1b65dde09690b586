"""S3Store specifics: bucket creation, unreachable endpoints, settings."""

from __future__ import annotations

import uuid

import pytest
import urllib3

from reelflow.storage import (
    S3Store,
    StorageUnavailable,
)
from tests.storage.support import s3_store


def test_s3_creates_missing_bucket(moto_endpoint: str) -> None:
    bucket = f"fresh-{uuid.uuid4().hex[:12]}"
    store = s3_store(moto_endpoint, bucket)
    assert not store.client.bucket_exists(bucket)
    assert not store.exists("x")  # reads on a missing bucket: just "not found"
    store.put_bytes("x", b"1")
    assert store.client.bucket_exists(bucket)
    # A second store on the same bucket finds it already there.
    assert s3_store(moto_endpoint, bucket).get_bytes("x") == b"1"


def test_s3_unreachable_endpoint() -> None:
    # No retries so the test fails fast; production keeps the SDK's retrying pool.
    store = S3Store("127.0.0.1:1", "k", "s", "bkt", http_client=urllib3.PoolManager(retries=False))
    with pytest.raises(StorageUnavailable, match=r"127\.0\.0\.1:1"):
        store.healthcheck()


def test_s3_rejects_bad_settings() -> None:
    with pytest.raises(ValueError, match="part_size"):
        S3Store("127.0.0.1:9000", "k", "s", "bkt", part_size=1024)
    with pytest.raises(ValueError, match="invalid S3 bucket name 'B_'"):
        S3Store("127.0.0.1:9000", "k", "s", "B_")


def test_s3_endpoint_url_form() -> None:
    store = S3Store("https://s3.example.com", "k", "s", "bkt")
    assert store.endpoint == "s3.example.com"
    assert store.url("a/b").startswith("https://s3.example.com/bkt/a/b?")
