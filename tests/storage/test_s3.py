"""S3Store specifics against a real S3 server (SeaweedFS): bucket creation, signatures,
unreachable endpoints, settings."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest
import urllib3
from minio import Minio
from minio.error import S3Error

from reelflow.storage import (
    InvalidObjectKey,
    LocalStore,
    S3Store,
    StorageError,
    StorageUnavailable,
)
from tests.services import S3Server
from tests.storage.support import s3_store


def test_s3_creates_missing_bucket(seaweed_endpoint: str) -> None:
    bucket = f"fresh-{uuid.uuid4().hex[:12]}"
    store = s3_store(seaweed_endpoint, bucket)
    assert not store.client.bucket_exists(bucket)
    assert not store.exists("x")  # reads on a missing bucket: just "not found"
    store.put_bytes("x", b"1")
    assert store.client.bucket_exists(bucket)
    # A second store on the same bucket finds it already there.
    assert s3_store(seaweed_endpoint, bucket).get_bytes("x") == b"1"


def test_s3_server_checks_signatures(seaweed: S3Server) -> None:
    """The test server is not a mock: a wrong secret, an unknown key and an unsigned
    request are each refused, so every passing S3 test signed its requests correctly."""
    good = s3_store(seaweed.endpoint)
    good.put_bytes("secret/obj", b"payload")
    wrong_secret = S3Store(seaweed.endpoint, seaweed.access_key, "not-the-secret", good.bucket)
    with pytest.raises(StorageError) as denied:
        wrong_secret.get_bytes("secret/obj")
    assert "not-the-secret" not in str(denied.value)
    for access_key, secret_key, code in [
        (seaweed.access_key, "not-the-secret", "SignatureDoesNotMatch"),
        ("nobody", "x", "InvalidAccessKeyId"),
        (None, None, "AccessDenied"),
    ]:
        client = Minio(seaweed.endpoint, access_key=access_key, secret_key=secret_key, secure=False)
        with pytest.raises(S3Error) as refused:
            client.get_object(good.bucket, "secret/obj")
        assert refused.value.code == code


def test_s3_presigned_url_is_checked(seaweed_endpoint: str) -> None:
    store = s3_store(seaweed_endpoint)
    store.put_bytes("seg/1.m4s", b"segment")
    url = store.url("seg/1.m4s", expires_s=60)
    assert httpx.get(url).content == b"segment"
    # Another key under the same signature is refused: the signature covers the path.
    assert httpx.get(url.replace("seg/1.m4s", "seg/2.m4s")).status_code == 403
    assert httpx.get(url.split("?")[0]).status_code == 403


def test_s3_upload_form_caps_the_size_in_the_store(seaweed_endpoint: str, tmp_path: Path) -> None:
    """The presigned POST's content-length-range is enforced by SeaweedFS itself."""
    store = s3_store(seaweed_endpoint)
    form = store.upload_form("up/a/m.mov", max_bytes=1000, expires_s=60)
    assert form is not None and form.max_bytes == 1000
    assert form.url.endswith(f"/{store.bucket}") and form.fields["key"] == "up/a/m.mov"

    def post(payload: bytes) -> httpx.Response:
        return httpx.post(form.url, data=form.fields, files={"file": ("m", payload)})

    over = post(b"x" * 1001)
    assert over.status_code == 400 and "EntityTooLarge" in over.text
    assert not store.exists("up/a/m.mov")
    assert post(b"x" * 1000).status_code in (200, 201, 204)
    assert store.get_bytes("up/a/m.mov") == b"x" * 1000
    with pytest.raises(InvalidObjectKey):
        store.upload_form("../m.mov", max_bytes=1)
    with pytest.raises(ValueError, match="max_bytes"):
        store.upload_form("up/b", max_bytes=0)
    # A local folder has no server to take an upload.
    assert LocalStore(tmp_path / "objects").upload_form("up/a/m.mov", max_bytes=1000) is None


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
