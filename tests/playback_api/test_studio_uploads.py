"""Studios deliver into reelflow's own store: a presigned POST, then ``store:uploads/<studio>/``.

The upload endpoint runs against a real S3 server (SeaweedFS, signatures checked) and a
LocalStore; the ingest-body and fetcher rules are checked directly and through the app.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from reelflow.catalog.db import upgrade
from reelflow.config import Settings
from reelflow.ingest.fetch import fetch_to
from reelflow.ingest.sources import BadSource
from reelflow.playback_api.http.app import create_app
from reelflow.playback_api.http.problems import PROBLEM_BASE_URI, Problem
from reelflow.playback_api.studio.ingest_body import parse_ingest_body
from reelflow.storage import LocalStore, S3Store
from reelflow.studios.accounts import StudioCredentials, create_studio, set_quotas
from reelflow.studios.signatures import SIGNATURE_HEADER, sign_payload
from tests.services import S3Server, free_port, seaweedfs_server

UPLOADS = "/v1/studio/uploads"
SCHEMES = frozenset({"https", "http"})

# Refused for studio "acme": each a store: source it must not name.
REFUSED_SOURCES = [
    "store:uploads/other/abc/master.mov",  # another studio's prefix
    "store:uploads/acme-evil/abc/master.mov",  # a studio id that merely starts with "acme"
    "store:masters/t1/0123abcd",  # a bare store key outside uploads
    "store:uploads/acme/../other/master.mov",  # traversal
    "store:uploads/acme/./x/../../other/m.mov",
    "store:uploads/acme//master.mov",  # empty segment
    "store:uploads/acme/",  # the prefix itself
    "store:uploads/acme",
    "store:/uploads/acme/x.mov",  # absolute
    "store:uploads\\acme\\x.mov",  # backslashes
    "store:uploads/acme/x\x01.mov",  # control character
    "store:",
]


def ingest_doc(source: str) -> dict[str, Any]:
    return {"title_id": f"t-{uuid.uuid4().hex[:12]}", "name": "Upload test", "source": source}


def problem_type(response: httpx.Response) -> str:
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    slug: str = response.json()["type"].removeprefix(PROBLEM_BASE_URI)
    return slug


# ---- the rule, directly ------------------------------------------------------------------


def test_body_accepts_own_upload_prefix() -> None:
    raw = json.dumps(ingest_doc("store:uploads/acme/0f3a/master.mov")).encode()
    body = parse_ingest_body(raw, SCHEMES, "acme")
    assert body.source == "store:uploads/acme/0f3a/master.mov"


@pytest.mark.parametrize("source", REFUSED_SOURCES)
def test_body_refuses_other_store_keys(source: str) -> None:
    raw = json.dumps(ingest_doc(source)).encode()
    with pytest.raises(Problem) as info:
        parse_ingest_body(raw, SCHEMES, "acme")
    assert info.value.problem_type.slug == "validation_error"
    errors = info.value.extra["errors"]
    assert [e["loc"] for e in errors] == [["body", "source"]]
    # The message names the allowed prefix, and nothing of the refused input.
    assert errors[0]["msg"].endswith("must name an object under store:uploads/acme/")


def test_body_without_studio_refuses_store_keys() -> None:
    raw = json.dumps(ingest_doc("store:uploads/acme/0f3a/master.mov")).encode()
    with pytest.raises(Problem) as info:
        parse_ingest_body(raw, SCHEMES)
    assert info.value.problem_type.slug == "validation_error"


def test_fetcher_allows_only_the_studios_own_uploads(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "objects")
    payload = os.urandom(4096)
    store.put_bytes("uploads/acme/0f3a/master.mov", payload)
    store.put_bytes("uploads/other/0f3a/master.mov", payload)
    store.put_bytes("masters/t1/abc", payload)

    def fetch(source: str, studio_id: str | None) -> str:
        got = fetch_to(
            source,
            tmp_path / "dest",
            store=store,
            max_bytes=1 << 20,
            timeout_s=5,
            public_only=True,
            studio_id=studio_id,
        )
        return got.sha256

    assert (
        fetch("store:uploads/acme/0f3a/master.mov", "acme") == hashlib.sha256(payload).hexdigest()
    )
    refused = 0
    for source in REFUSED_SOURCES:
        with pytest.raises(BadSource):
            fetch(source, "acme")
        refused += 1
    # A studio-named store: source without the studio known (older runs) stays refused.
    with pytest.raises(BadSource, match="http"):
        fetch("store:uploads/acme/0f3a/master.mov", None)
    assert refused == len(REFUSED_SOURCES)


# ---- through the app ---------------------------------------------------------------------


def _app(tmp_path: Path, redis_url: str, **store: Any) -> Iterator[tuple[Settings, TestClient]]:
    database_url = f"sqlite:///{tmp_path / 'catalog.db'}"
    settings = Settings(
        home=tmp_path / "state",
        database_url=database_url,
        redis_url=redis_url,
        # Unreachable: a body that passes every check answers 503 at the workflow start.
        temporal_address=f"127.0.0.1:{free_port()}",
        **store,
    )
    settings.ensure_home()
    upgrade(database_url)
    with TestClient(create_app(settings), base_url="http://127.0.0.1:8000") as client:
        yield settings, client


@pytest.fixture(scope="module")
def seaweed() -> Iterator[S3Server]:
    with seaweedfs_server(access_key="testing", secret_key="uploads-secret") as server:
        yield server


@pytest.fixture
def s3_app(
    tmp_path: Path, redis_url: str, seaweed: S3Server
) -> Iterator[tuple[Settings, TestClient]]:
    yield from _app(
        tmp_path,
        redis_url,
        store="s3",
        s3_endpoint=seaweed.endpoint,
        s3_access_key=seaweed.access_key,
        s3_secret_key=seaweed.secret_key,
        s3_bucket=f"up-{uuid.uuid4().hex[:12]}",
    )


@pytest.fixture
def local_app(tmp_path: Path, redis_url: str) -> Iterator[tuple[Settings, TestClient]]:
    yield from _app(tmp_path, redis_url)


def _studio(settings: Settings) -> StudioCredentials:
    from reelflow.catalog import engine_from_settings

    sid = f"studio-{uuid.uuid4().hex[:8]}"
    return create_studio(settings, engine_from_settings(settings), sid, f"Studio {sid}")


def _ingest(client: TestClient, creds: StudioCredentials, source: str) -> httpx.Response:
    raw = json.dumps(ingest_doc(source)).encode()
    headers = {
        "Content-Type": "application/json",
        "X-Api-Key": creds.api_key,
        SIGNATURE_HEADER: sign_payload(creds.webhook_secret.encode(), raw, int(time.time())),
    }
    return client.post("/v1/studio/ingest", content=raw, headers=headers)


def _post_upload(doc: dict[str, Any], payload: bytes, **override: str) -> httpx.Response:
    """The studio's side: the granted form fields, then the file last, no credentials."""
    form = doc["upload"]
    fields = {**form["fields"], **override}
    files = {"file": ("master.mov", payload, "application/octet-stream")}
    return httpx.post(form["url"], data=fields, files=files, timeout=60)


def test_upload_form_takes_a_post_and_the_source_ingests(
    s3_app: tuple[Settings, TestClient], seaweed: S3Server
) -> None:
    settings, client = s3_app
    creds = _studio(settings)
    granted = client.post(
        UPLOADS, json={"name": "master.mov"}, headers={"X-Api-Key": creds.api_key}
    )
    assert granted.status_code == 201, granted.text
    doc = granted.json()
    source: str = doc["source"]
    assert source.startswith(f"store:uploads/{creds.studio_id}/") and source.endswith("/master.mov")
    assert doc["max_bytes"] == settings.studio_upload_max_bytes
    assert "upload_url" not in doc  # no open PUT any more
    expires = datetime.fromisoformat(doc["expires_at"])
    assert 3000 < (expires - datetime.now(UTC)).total_seconds() <= 3600

    payload = os.urandom(3 * 1024 * 1024 + 7)
    posted = _post_upload(doc, payload)
    assert posted.status_code in (200, 201, 204), posted.text
    store = S3Store(
        endpoint=seaweed.endpoint,
        access_key=seaweed.access_key,
        secret_key=seaweed.secret_key,
        bucket=settings.s3_bucket,
    )
    key = source.removeprefix("store:")
    assert store.get_bytes(key) == payload

    # The policy is for that key only: another key is refused by S3.
    other_key = key.replace("master.mov", "other.mov")
    assert _post_upload(doc, b"x", key=other_key).status_code == 403
    assert not store.exists(other_key)

    # Each grant is a fresh key.
    again = client.post(UPLOADS, json={"name": "master.mov"}, headers={"X-Api-Key": creds.api_key})
    assert again.json()["source"] != source

    # Naming it in the signed ingest passes validation (Temporal is unreachable: 503).
    accepted = _ingest(client, creds, source)
    assert accepted.status_code == 503 and problem_type(accepted) == "service_unavailable"
    other = _studio(settings)
    refused = _ingest(client, other, source)  # another studio naming this upload
    assert refused.status_code == 422 and problem_type(refused) == "validation_error"


def test_the_store_itself_refuses_an_upload_over_the_studios_limit(
    s3_app: tuple[Settings, TestClient], seaweed: S3Server
) -> None:
    from reelflow.catalog import engine_from_settings

    settings, client = s3_app
    creds = _studio(settings)
    limit = 64 * 1024
    set_quotas(engine_from_settings(settings), creds.studio_id, {"max_upload_bytes": limit})
    headers = {"X-Api-Key": creds.api_key}

    # Declared too big: 413 at once, and no form is handed out.
    declared = client.post(UPLOADS, json={"name": "m.mov", "size": limit + 1}, headers=headers)
    assert declared.status_code == 413 and problem_type(declared) == "payload_too_large"
    assert declared.json()["max_bytes"] == limit

    granted = client.post(UPLOADS, json={"name": "m.mov", "size": limit}, headers=headers)
    assert granted.status_code == 201, granted.text
    doc = granted.json()
    assert doc["max_bytes"] == limit
    store = S3Store(
        endpoint=seaweed.endpoint,
        access_key=seaweed.access_key,
        secret_key=seaweed.secret_key,
        bucket=settings.s3_bucket,
    )
    key = doc["source"].removeprefix("store:")
    # Whatever was declared, one byte over the signed range is refused by SeaweedFS itself.
    over = _post_upload(doc, os.urandom(limit + 1))
    assert over.status_code == 400 and "EntityTooLarge" in over.text, over.text
    assert not store.exists(key)
    assert "EntityTooSmall" in _post_upload(doc, b"").text
    assert not store.exists(key)
    # A policy edited to allow more no longer matches its signature.
    policy = json.loads(base64.b64decode(doc["upload"]["fields"]["policy"]))
    for cond in policy["conditions"]:
        if isinstance(cond, list) and cond[0] == "content-length-range":
            cond[2] = limit * 1024
    forged = base64.b64encode(json.dumps(policy).encode()).decode()
    assert _post_upload(doc, os.urandom(limit + 1), policy=forged).status_code == 403
    assert not store.exists(key)
    # Exactly at the limit: stored.
    payload = os.urandom(limit)
    within = _post_upload(doc, payload)
    assert within.status_code in (200, 201, 204), within.text
    assert store.get_bytes(key) == payload


@pytest.mark.parametrize("source", REFUSED_SOURCES)
def test_ingest_refuses_store_keys_outside_own_uploads(
    local_app: tuple[Settings, TestClient], source: str
) -> None:
    settings, client = local_app
    creds = _studio(settings)
    own = source.replace("acme", creds.studio_id)  # the same attacks against its own id
    for attempt in {source, own}:
        response = _ingest(client, creds, attempt)
        assert response.status_code == 422, (attempt, response.text)
        assert problem_type(response) == "validation_error"
        assert response.json()["errors"][0]["loc"] == ["body", "source"]


def test_upload_refusals(local_app: tuple[Settings, TestClient]) -> None:
    settings, client = local_app
    creds = _studio(settings)
    headers = {"X-Api-Key": creds.api_key}
    local = client.post(UPLOADS, json={"name": "master.mov"}, headers=headers)
    assert local.status_code == 501 and problem_type(local) == "uploads_unavailable"
    assert "S3" in local.json()["detail"]

    no_key = client.post(UPLOADS, json={"name": "master.mov"})
    assert no_key.status_code == 401 and problem_type(no_key) == "invalid_api_key"
    for name in ["../x.mov", "a/b.mov", ".hidden", "", "x" * 201, "sp ace.mov"]:
        bad = client.post(UPLOADS, json={"name": name}, headers=headers)
        assert bad.status_code == 422 and problem_type(bad) == "validation_error", name
    extra = client.post(UPLOADS, json={"name": "m.mov", "key": "uploads/x"}, headers=headers)
    assert extra.status_code == 422
