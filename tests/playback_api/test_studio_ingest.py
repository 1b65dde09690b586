"""Signed studio ingest against the real app, a real Temporal dev server, Redis and SQLite.

Refusals that must happen before Temporal is asked anything run on an app whose Temporal
address is unreachable: reaching Temporal there would answer 503, not the expected 4xx.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from reelflow.catalog import engine_from_settings
from reelflow.catalog.db import upgrade
from reelflow.catalog.models import IngestRequestRow, Title
from reelflow.catalog.studio_ingest import PENDING
from reelflow.config import Settings
from reelflow.domain.ids import workflow_id
from reelflow.playback_api.auth import webhook_auth
from reelflow.playback_api.http.app import create_app
from reelflow.playback_api.http.problems import PROBLEM_BASE_URI, Problem
from reelflow.playback_api.studio import ingest_body, ingest_flow
from reelflow.playback_api.studio.status import StudioRendition
from reelflow.studios.accounts import (
    StudioCredentials,
    create_studio,
    disable_studio,
    rotate_webhook_secret,
)
from reelflow.studios.signatures import (
    CALLBACK_SIGNATURE_HEADER,
    SIGNATURE_HEADER,
    callback_signing_key,
    sign_payload,
)
from reelflow.workers.main import build_worker
from tests.services import free_port

INGEST = "/v1/studio/ingest"
# What the stubbed resolver answers for the made-up *.example.com hosts (a public address).
PUBLIC_ADDRESS = "93.184.216.34"


@pytest.fixture(autouse=True)
def public_example_hosts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ingest resolves every URL's host; the test machine has no DNS (and the example
    hosts do not exist), so names under example.com resolve to one public address while
    literals, localhost and everything else go to the real resolver."""
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name.rstrip(".").endswith(".example.com"):
            return real(PUBLIC_ADDRESS, port, *args, **kwargs)
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def problem_type(response: httpx.Response) -> str:
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    slug: str = response.json()["type"].removeprefix(PROBLEM_BASE_URI)
    return slug


def new_title_id() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"


def in_catalog(creds: StudioCredentials, title_id: str) -> str:
    """The catalog id of a studio's title: each studio has a namespace of its own."""
    return f"{creds.studio_id}--{title_id}"


def ingest_doc(title_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "title_id": title_id,
        "name": "Big Buck Bunny",
        "synopsis": "A giant rabbit.\nTakes revenge.",
        "genres": ["animation", "comedy"],
        "rating": "PG",
        "source": "https://media.example.com/masters/bbb.mov",
        "subtitles": [{"language": "en", "source": "https://media.example.com/bbb.en.vtt"}],
        "window_start": "2026-01-01T00:00:00+00:00",
        "window_end": "2027-01-01T00:00:00Z",
        "regions": ["US", "CA"],
        "plans": ["standard", "premium"],
        "callback_url": "https://hooks.example.com/reelflow",
        "options": {"require_approval": True},
        **extra,
    }


@dataclass
class StudioApi:
    settings: Settings
    engine: Engine
    client: TestClient

    def studio(self, studio_id: str | None = None) -> StudioCredentials:
        sid = studio_id or f"studio-{uuid.uuid4().hex[:8]}"
        return create_studio(self.settings, self.engine, sid, f"Studio {sid}")

    def post(
        self,
        creds: StudioCredentials | None,
        body: bytes | dict[str, Any],
        *,
        t: int | None = None,
        secret: str | None = None,
        signature: str | None = None,
        idempotency_key: str | None = None,
        api_key: str | None = None,
    ) -> httpx.Response:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        if api_key is not None:
            headers["X-Api-Key"] = api_key
        elif creds is not None:
            headers["X-Api-Key"] = creds.api_key
        if signature is None and creds is not None:
            key = (secret or creds.webhook_secret).encode()
            signature = sign_payload(key, raw, int(time.time()) if t is None else t)
        if signature:
            headers[SIGNATURE_HEADER] = signature
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        return self.client.post(INGEST, content=raw, headers=headers)

    def status(self, creds: StudioCredentials, title_id: str) -> httpx.Response:
        return self.client.get(
            f"/v1/studio/titles/{title_id}", headers={"X-Api-Key": creds.api_key}
        )

    def ingest_rows(self, studio_id: str) -> list[IngestRequestRow]:
        with Session(self.engine) as s:
            stmt = select(IngestRequestRow).where(IngestRequestRow.studio_id == studio_id)
            return list(s.exec(stmt))


def _studio_api(tmp_path: Path, redis_url: str, temporal_address: str) -> Iterator[StudioApi]:
    queue = f"studio-{uuid.uuid4().hex[:10]}"
    database_url = f"sqlite:///{tmp_path / 'catalog.db'}"
    settings = Settings(
        home=tmp_path / "state",
        database_url=database_url,
        redis_url=redis_url,
        temporal_address=temporal_address,
        control_queue=f"{queue}-control",
        media_queue=f"{queue}-media",
    )
    settings.ensure_home()
    upgrade(database_url)
    engine = engine_from_settings(settings)
    with TestClient(create_app(settings), base_url="http://127.0.0.1:8000") as client:
        yield StudioApi(settings, engine, client)


@pytest.fixture
def offline_api(tmp_path: Path, redis_url: str) -> Iterator[StudioApi]:
    """The app with Temporal unreachable."""
    yield from _studio_api(tmp_path, redis_url, f"127.0.0.1:{free_port()}")


@pytest.fixture
async def temporal_api(
    tmp_path: Path, redis_url: str, temporal_env: WorkflowEnvironment
) -> AsyncIterator[StudioApi]:
    """The app on the session's Temporal dev server, with its own task queues."""
    target = temporal_env.client.service_client.config.target_host
    for harness in _studio_api(tmp_path, redis_url, target):
        yield harness


async def call(fn: Any, *args: Any, **kwargs: Any) -> httpx.Response:
    """Run a blocking TestClient call off the event loop, so workers in this loop can serve."""
    response: httpx.Response = await asyncio.to_thread(fn, *args, **kwargs)
    return response


async def terminate(client: Client, workflow_id: str) -> None:
    with suppress(RPCError):  # already closed
        await client.get_workflow_handle(workflow_id).terminate(reason="test cleanup")


# ---- with Temporal -----------------------------------------------------------------------


async def test_signed_ingest_starts_the_workflow_and_reports_status(
    temporal_api: StudioApi, temporal_env: WorkflowEnvironment, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = temporal_env.client
    creds = temporal_api.studio()
    title_id = new_title_id()
    cid = in_catalog(creds, title_id)
    doc = ingest_doc(title_id)
    t0 = int(time.time())
    first = await call(temporal_api.post, creds, doc, t=t0, idempotency_key="delivery-1")
    assert first.status_code == 202, first.text
    accepted = first.json()
    assert accepted == {
        "title_id": title_id,
        "catalog_title_id": cid,
        "version": 1,
        "workflow_id": f"title-{cid}",
        "status_url": f"http://127.0.0.1:8000/v1/studio/titles/{title_id}",
    }
    assert first.headers["location"] == accepted["status_url"]
    assert "idempotent-replayed" not in first.headers
    handle = client.get_workflow_handle(f"title-{cid}")
    try:
        desc = await handle.describe()
        assert desc.status == WorkflowExecutionStatus.RUNNING
        assert desc.task_queue == temporal_api.settings.control_queue
        assert (await desc.memo())["studio_id"] == creds.studio_id

        # The same delivery re-signed under the same key: the stored answer, no new run.
        again = await call(temporal_api.post, creds, doc, t=t0 + 1, idempotency_key="delivery-1")
        assert again.status_code == 202
        assert again.json() == accepted
        assert again.headers["idempotent-replayed"] == "true"
        assert again.headers["location"] == accepted["status_url"]
        assert (await handle.describe()).run_id == desc.run_id
        rows = temporal_api.ingest_rows(creds.studio_id)
        assert [(r.idempotency_key, r.status_code, r.title_id) for r in rows] == [
            ("delivery-1", 202, title_id)
        ]

        # Another body under the same key.
        changed = await call(
            temporal_api.post,
            creds,
            ingest_doc(title_id, name="Other"),
            t=t0 + 2,
            idempotency_key="delivery-1",
        )
        assert changed.status_code == 422 and problem_type(changed) == "idempotency_conflict"

        # The very same bytes and signature once more: a replay.
        raw = json.dumps(doc).encode()
        replay = await call(
            temporal_api.post,
            creds,
            raw,
            signature=sign_payload(creds.webhook_secret.encode(), raw, t0),
            idempotency_key="delivery-1",
        )
        assert replay.status_code == 409 and problem_type(replay) == "replayed_request"

        # A control worker answers the status query (the media queue has none: it waits).
        async with build_worker(client, temporal_api.settings, "control"):
            status = await call(temporal_api.status, creds, title_id)
            assert status.status_code == 200, status.text
            body = status.json()
            assert body["title_id"] == title_id and body["version"] == 1
            assert body["catalog_title_id"] == cid
            assert body["workflow_id"] == f"title-{cid}"
            assert body["workflow_status"] == "RUNNING"
            assert body["state"] == "ingesting" and body["stage"] == "ingest"
            assert [s["name"] for s in body["stages"]][:2] == ["ingest", "qc"]
            assert body["percent"] == 0.0
            assert body["window_start"] == "2026-01-01T00:00:00+00:00"
            # Storage layout is not a studio's business: renditions carry no object keys.
            assert "object_key" not in StudioRendition.model_fields
            assert "object_key" not in status.text

            # The ingest claimed the id (the row names the owner at once); register_title
            # ran on the worker when the run's callback URL is recorded.
            deadline = time.monotonic() + 20
            title = None
            while time.monotonic() < deadline:
                with Session(temporal_api.engine) as s:
                    title = s.get(Title, cid)
                if title is not None and title.callback_url is not None:
                    break
                await asyncio.sleep(0.1)
            assert title is not None and title.studio_id == creds.studio_id
            assert title.studio_title_id == title_id
            assert title.callback_url == "https://hooks.example.com/reelflow"
            again_status = await call(temporal_api.status, creds, title_id)
            assert again_status.status_code == 200
    finally:
        await terminate(client, f"title-{cid}")
    # Secrets and signatures never reach a log line.
    mac = sign_payload(creds.webhook_secret.encode(), json.dumps(doc).encode(), t0)
    for secret in (creds.api_key, creds.webhook_secret, mac.rpartition("v1=")[2]):
        assert secret not in caplog.text


async def test_duplicate_delivery_without_a_key_joins_the_same_run(
    temporal_api: StudioApi, temporal_env: WorkflowEnvironment
) -> None:
    creds = temporal_api.studio()
    title_id = new_title_id()
    cid = in_catalog(creds, title_id)
    try:
        one = await call(temporal_api.post, creds, ingest_doc(title_id))
        run = (await temporal_env.client.get_workflow_handle(f"title-{cid}").describe()).run_id
        two = await call(temporal_api.post, creds, ingest_doc(title_id, name="Renamed"))
        assert one.status_code == two.status_code == 202
        assert one.json() == two.json() and "idempotent-replayed" not in two.headers
        again = await temporal_env.client.get_workflow_handle(f"title-{cid}").describe()
        assert again.run_id == run
        v2 = await call(temporal_api.post, creds, ingest_doc(title_id, version=2))
        assert v2.status_code == 202
        assert v2.json()["workflow_id"] == workflow_id(cid, 2)
        assert v2.json()["status_url"].endswith(f"/v1/studio/titles/{title_id}?version=2")
    finally:
        await terminate(temporal_env.client, f"title-{cid}")
        await terminate(temporal_env.client, workflow_id(cid, 2))


async def test_concurrent_retries_under_one_key_store_one_answer(
    temporal_api: StudioApi, temporal_env: WorkflowEnvironment
) -> None:
    creds = temporal_api.studio()
    title_id = new_title_id()
    doc = ingest_doc(title_id)
    t0 = int(time.time())

    def burst() -> list[httpx.Response]:
        with ThreadPoolExecutor(max_workers=6) as pool:
            futures = [
                pool.submit(temporal_api.post, creds, doc, t=t0 - i, idempotency_key="race")
                for i in range(6)
            ]
            return [f.result() for f in futures]

    try:
        responses = await asyncio.to_thread(burst)
        assert {r.status_code for r in responses} == {202}, [r.text for r in responses]
        assert len({r.text for r in responses}) == 1
        assert sum(r.headers.get("idempotent-replayed") == "true" for r in responses) == 5
        rows = temporal_api.ingest_rows(creds.studio_id)
        assert len(rows) == 1 and rows[0].status_code == 202
    finally:
        await terminate(temporal_env.client, f"title-{in_catalog(creds, title_id)}")


async def test_a_claim_left_by_a_dead_request_is_taken_over(
    temporal_api: StudioApi, temporal_env: WorkflowEnvironment
) -> None:
    creds = temporal_api.studio()
    title_id = new_title_id()
    raw = json.dumps(ingest_doc(title_id)).encode()
    with Session(temporal_api.engine) as s:
        s.add(
            IngestRequestRow(
                studio_id=creds.studio_id,
                idempotency_key="stuck",
                body_sha256=hashlib.sha256(raw).hexdigest(),
                title_id=title_id,
                status_code=PENDING,
                created_at=datetime.now(UTC) - timedelta(seconds=ingest_flow.STALE_CLAIM_S + 5),
            )
        )
        s.commit()
    try:
        response = await call(temporal_api.post, creds, raw, idempotency_key="stuck")
        assert response.status_code == 202, response.text
        rows = temporal_api.ingest_rows(creds.studio_id)
        assert [(r.status_code, r.response["workflow_id"]) for r in rows] == [
            (202, f"title-{in_catalog(creds, title_id)}")
        ]
    finally:
        await terminate(temporal_env.client, f"title-{in_catalog(creds, title_id)}")


# ---- Temporal unreachable ---------------------------------------------------------------


def test_temporal_down_is_503_and_leaves_nothing_behind(offline_api: StudioApi) -> None:
    creds = offline_api.studio()
    title_id = new_title_id()
    raw = json.dumps(ingest_doc(title_id)).encode()
    signature = sign_payload(creds.webhook_secret.encode(), raw, int(time.time()))
    first = offline_api.post(creds, raw, signature=signature, idempotency_key="retry-me")
    assert first.status_code == 503 and problem_type(first) == "service_unavailable"
    assert offline_api.ingest_rows(creds.studio_id) == []
    # The claim of the id is released too: nothing started, so nothing is held.
    with Session(offline_api.engine) as s:
        assert s.exec(select(Title).where(Title.studio_id == creds.studio_id)).all() == []
    # Not processed, so the exact same bytes may come again (503 again, not a replay 409).
    second = offline_api.post(creds, raw, signature=signature, idempotency_key="retry-me")
    assert second.status_code == 503
    assert offline_api.ingest_rows(creds.studio_id) == []


def test_a_key_still_in_flight_answers_503_with_retry_after(
    offline_api: StudioApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest_flow, "PENDING_WAIT_S", 0.3)
    creds = offline_api.studio()
    raw = json.dumps(ingest_doc(new_title_id())).encode()
    with Session(offline_api.engine) as s:
        s.add(
            IngestRequestRow(
                studio_id=creds.studio_id,
                idempotency_key="busy",
                body_sha256=hashlib.sha256(raw).hexdigest(),
                title_id="x",
                status_code=PENDING,
            )
        )
        s.commit()
    response = offline_api.post(creds, raw, idempotency_key="busy")
    assert response.status_code == 503 and response.headers["retry-after"] == "2"
    conflict = offline_api.post(creds, ingest_doc(new_title_id()), idempotency_key="busy")
    assert conflict.status_code == 422 and problem_type(conflict) == "idempotency_conflict"


# ---- authentication and signatures -----------------------------------------------------


def test_api_key_is_required_and_checked(offline_api: StudioApi) -> None:
    creds = offline_api.studio()
    doc = ingest_doc(new_title_id())
    missing = offline_api.post(None, doc)
    assert missing.status_code == 401 and problem_type(missing) == "invalid_api_key"
    for bad in ("nope", "rf_sk_" + "A" * 43, creds.api_key + "x"):
        r = offline_api.post(creds, doc, api_key=bad)
        assert r.status_code == 401 and problem_type(r) == "invalid_api_key"
    status = offline_api.client.get("/v1/studio/titles/anything", headers={"X-Api-Key": "nope"})
    assert status.status_code == 401 and problem_type(status) == "invalid_api_key"
    disable_studio(offline_api.engine, creds.studio_id)
    disabled = offline_api.post(creds, doc)
    assert disabled.status_code == 401 and problem_type(disabled) == "invalid_api_key"


def test_signature_refusals(offline_api: StudioApi) -> None:
    creds = offline_api.studio()
    other = offline_api.studio()
    doc = ingest_doc(new_title_id())
    raw = json.dumps(doc).encode()
    now = int(time.time())

    def refused(response: httpx.Response, status: int, slug: str) -> None:
        assert response.status_code == status, response.text
        assert problem_type(response) == slug

    refused(offline_api.post(creds, doc, signature=""), 401, "bad_signature")
    refused(offline_api.post(creds, doc, secret=other.webhook_secret), 401, "bad_signature")
    refused(offline_api.post(creds, doc, secret="whsec_guess"), 401, "bad_signature")
    tampered = sign_payload(creds.webhook_secret.encode(), raw, now)
    refused(
        offline_api.post(creds, raw.replace(b"Big Buck", b"Big Duck"), signature=tampered),
        401,
        "bad_signature",
    )
    # The timestamp is part of what is signed: moving it breaks the MAC.
    moved = tampered.replace(f"t={now}", f"t={now + 1}")
    refused(offline_api.post(creds, raw, signature=moved), 401, "bad_signature")
    for header in (
        "garbage",
        f"t={now}",
        "v1=" + "0" * 64,
        f"t=abc,v1={'0' * 64}",
        f"t={now},t={now},v1={'0' * 64}",
        f"t={now},v1=xyz",
        f"t={now}," + ",".join(f"v1={'0' * 64}" for _ in range(9)),
        f"t={now},v1={'0' * 64}," + "x" * 2000,
    ):
        refused(offline_api.post(creds, raw, signature=header), 401, "bad_signature")
    # floor/ceil keep the offset at least 301 s whatever fraction of a second it is now.
    past = math.floor(time.time()) - 301
    refused(offline_api.post(creds, doc, t=past), 409, "replayed_request")
    future = math.ceil(time.time()) + 301
    refused(offline_api.post(creds, doc, t=future), 409, "replayed_request")
    # Stale *and* forged: nothing tells a forger the timestamp was the problem.
    refused(offline_api.post(creds, doc, t=past, secret="whsec_x"), 401, "bad_signature")


def test_valid_signatures_pass_in_every_accepted_form(offline_api: StudioApi) -> None:
    """Anything that passes the signature reaches body validation: an invalid body (422)
    proves the signature was accepted without needing Temporal."""
    creds = offline_api.studio()
    now = round(time.time())
    secret = creds.webhook_secret.encode()

    def mac(raw: bytes) -> str:
        return sign_payload(secret, raw, now).rpartition("v1=")[2]

    def passes(
        body: dict[str, Any], header: Callable[[bytes], str] | None = None, **kw: Any
    ) -> None:
        raw = json.dumps(body).encode()
        r = offline_api.post(creds, raw, signature=header(raw) if header else None, **kw)
        assert r.status_code == 422 and problem_type(r) == "validation_error", r.text

    def bad() -> dict[str, Any]:
        return ingest_doc(new_title_id(), regions=["XX"])

    passes(bad(), t=now - 298)
    passes(bad(), t=now + 298)
    # Rotation: several v1 entries, any one matching; other schemes ignored; hex case-free.
    passes(bad(), lambda raw: f"t={now},v0=abc,v1={'1' * 64},v1={mac(raw)}")
    passes(bad(), lambda raw: f"t={now},v1={mac(raw).upper()}")
    passes(bad(), lambda raw: f" t={now} , v1={mac(raw)} ")

    old = creds.webhook_secret
    new = rotate_webhook_secret(offline_api.settings, offline_api.engine, creds.studio_id)
    passes(bad(), secret=old)  # within the grace period
    passes(bad(), secret=new)
    rotate_webhook_secret(offline_api.settings, offline_api.engine, creds.studio_id, grace_s=0)
    gone = offline_api.post(creds, bad(), secret=new)
    assert gone.status_code == 401 and problem_type(gone) == "bad_signature"


def test_a_captured_callback_signature_does_not_sign_an_ingest(offline_api: StudioApi) -> None:
    # What a studio's callback endpoint received (or an eavesdropper captured): a body and
    # a Reelflow-Callback-Signature under the studio's outbound key. Sent as an ingest, in
    # either header, it is refused before anything is parsed.
    creds = offline_api.studio()
    raw = json.dumps(ingest_doc(new_title_id())).encode()
    outbound = callback_signing_key(creds.webhook_secret.encode())
    captured = sign_payload(outbound, raw, int(time.time()))
    refused = offline_api.post(creds, raw, signature=captured)
    assert refused.status_code == 401 and problem_type(refused) == "bad_signature"
    headers = {
        "Content-Type": "application/json",
        "X-Api-Key": creds.api_key,
        CALLBACK_SIGNATURE_HEADER: captured,
    }
    only_callback = offline_api.client.post(INGEST, content=raw, headers=headers)
    assert only_callback.status_code == 401 and problem_type(only_callback) == "bad_signature"


def test_byte_identical_resend_is_a_replay(offline_api: StudioApi) -> None:
    creds = offline_api.studio()
    raw = json.dumps(ingest_doc(new_title_id(), plans=["gold"])).encode()
    signature = sign_payload(creds.webhook_secret.encode(), raw, int(time.time()))
    first = offline_api.post(creds, raw, signature=signature)
    assert first.status_code == 422
    for variant in (
        signature,
        signature + ",v1=" + "0" * 64,  # a bogus extra signature does not make it new
        " ".join(reversed(signature.split(","))).replace(" ", ","),
    ):
        again = offline_api.post(creds, raw, signature=variant)
        assert again.status_code == 409 and problem_type(again) == "replayed_request"
    # Another studio sending the same bytes is not a replay of this one's delivery.
    other = offline_api.studio()
    assert offline_api.post(other, raw).status_code == 422


def test_idempotency_key_format(offline_api: StudioApi) -> None:
    creds = offline_api.studio()
    for key in ("", "has space", "x" * 201, "a/b", "semi;colon"):
        r = offline_api.post(creds, ingest_doc(new_title_id()), idempotency_key=key)
        assert r.status_code == 422 and problem_type(r) == "validation_error", key
        assert r.json()["errors"][0]["loc"] == ["header", "Idempotency-Key"]


# ---- hostile bodies ----------------------------------------------------------------------


def _nested(depth: int) -> bytes:
    return b'{"title_id":' + b"[" * depth + b"]" * depth + b"}"


HOSTILE: dict[str, tuple[bytes | dict[str, Any], str]] = {
    "file source": (ingest_doc("h1", source="file:///etc/passwd"), "source"),
    "javascript source": (ingest_doc("h1", source="javascript:alert(1)"), "source"),
    "data subtitle": (
        ingest_doc("h1", subtitles=[{"language": "en", "source": "data:text/vtt,WEBVTT"}]),
        "subtitles",
    ),
    "ftp source": (ingest_doc("h1", source="ftp://media.example.com/a.mov"), "source"),
    "credentials": (ingest_doc("h1", source="https://user:pw@media.example.com/a"), "source"),
    "metadata host": (ingest_doc("h1", source="http://169.254.169.254/latest/"), "source"),
    "loopback": (ingest_doc("h1", source="http://localhost:8000/v1/"), "source"),
    "callback to ftp": (ingest_doc("h1", callback_url="ftp://hooks.example.com/"), "callback_url"),
    "long url": (ingest_doc("h1", source="https://e.example.com/" + "a" * 2048), "source"),
    "window backwards": (
        ingest_doc(
            "h1", window_start="2026-02-01T00:00:00+00:00", window_end="2026-01-01T00:00:00Z"
        ),
        "window_end",
    ),
    "window without offset": (ingest_doc("h1", window_start="2026-02-01T00:00:00"), "window_start"),
    "window as number": (ingest_doc("h1", window_start=1767225600), "window_start"),
    "unknown country": (ingest_doc("h1", regions=["US", "XX"]), "regions"),
    "lowercase country": (ingest_doc("h1", regions=["us"]), "regions"),
    "unknown plan": (ingest_doc("h1", plans=["gold"]), "plans"),
    "huge name": (ingest_doc("h1", name="n" * 10_000), "name"),
    "blank name": (ingest_doc("h1", name="   "), "name"),
    "nul in name": (ingest_doc("h1", name="a\x00b"), "name"),
    "bad title id": (ingest_doc("../etc"), "title_id"),
    "version zero": (ingest_doc("h1", version=0), "version"),
    "version as string": (ingest_doc("h1", version="2"), "version"),
    "too many genres": (ingest_doc("h1", genres=[f"g{i}" for i in range(21)]), "genres"),
    "long genre": (ingest_doc("h1", genres=["g" * 41]), "genres"),
    "bad language": (
        ingest_doc("h1", subtitles=[{"language": "<x>", "source": "https://e.example.com/a"}]),
        "subtitles",
    ),
    "unknown field": (ingest_doc("h1", studio_id="someone-else"), "studio_id"),
    "approval as string": (ingest_doc("h1", options={"require_approval": "yes"}), "options"),
    "unknown codec": (ingest_doc("h1", options={"codecs": ["h264", "vp9"]}), "options"),
    "codec twice": (ingest_doc("h1", options={"codecs": ["av1", "av1"]}), "options"),
    "no codec": (ingest_doc("h1", options={"codecs": []}), "options"),
    "missing fields": ({"title_id": "h1"}, "name"),
    "not json": (b"title_id=h1&name=x", ""),
    "json array": (b'[{"title_id": "h1"}]', ""),
    "json string": (b'"h1"', ""),
    "empty body": (b"", ""),
    "invalid utf-8": (b'{"title_id": "\xff\xfe"}', ""),
    "deeply nested": (_nested(100_000), ""),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_bodies_are_422_problems(offline_api: StudioApi, case: str) -> None:
    creds = offline_api.studio()
    body, field = HOSTILE[case]
    response = offline_api.post(creds, body)
    assert response.status_code == 422, response.text
    assert problem_type(response) == "validation_error"
    errors = response.json()["errors"]
    assert errors and all(e["loc"][0] == "body" for e in errors)
    if field:
        assert any(len(e["loc"]) > 1 and e["loc"][1] == field for e in errors), errors
    # The offending input is never echoed back (URLs may carry secrets).
    assert "passwd" not in response.text and "user:pw" not in response.text


def test_oversized_body_is_413(offline_api: StudioApi) -> None:
    creds = offline_api.studio()
    limit = offline_api.settings.api_max_body_bytes
    raw = json.dumps(ingest_doc(new_title_id(), synopsis="x" * limit)).encode()
    response = offline_api.post(creds, raw)
    assert response.status_code == 413 and problem_type(response) == "payload_too_large"


# ---- documentation and unit checks -------------------------------------------------------


def test_openapi_documents_the_signed_body(offline_api: StudioApi) -> None:
    spec = offline_api.client.get("/openapi.json").json()
    post = spec["paths"][INGEST]["post"]
    assert post["tags"] == ["studio"]
    schema = post["requestBody"]["content"]["application/json"]["schema"]
    assert {"title_id", "source", "regions", "subtitles", "options"} <= set(schema["properties"])
    assert set(schema["required"]) == {"title_id", "name", "source"}
    assert "$defs" not in json.dumps(schema)
    assert schema["properties"]["subtitles"]["items"]["properties"]["language"]
    headers = {p["name"] for p in post["parameters"] if p["in"] == "header"}
    assert {"Reelflow-Signature", "Idempotency-Key"} <= headers
    assert "X-Api-Key" in json.dumps(spec["components"]["securitySchemes"])
    assert "/v1/studio/titles/{title_id}" in spec["paths"]


def test_country_list_matches_tzdata() -> None:
    table = Path("/usr/share/zoneinfo/iso3166.tab")
    if not table.exists():
        pytest.skip("tzdata's iso3166.tab is not installed")
    codes = {
        line.split("\t", 1)[0]
        for line in table.read_text().splitlines()
        if line and not line.startswith("#")
    }
    assert codes == ingest_body.ISO_3166_ALPHA2
    assert len(ingest_body.ISO_3166_ALPHA2) == 249


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/x",
        "http://127.1/x",
        "http://2130706433/x",
        "http://0x7f000001/x",
        "http://[::1]/x",
        "http://[::ffff:10.0.0.1]/x",
        "http://10.1.2.3/x",
        "http://192.168.0.1/x",
        "http://0.0.0.0/x",
        "http://a.localhost/x",
        "http://%6c%6fcalhost/x",
        "http://exa\\mple.com/x",
        "http://example.com:0/x",
        "http://example.com:99999/x",
        "http:///x",
        "//example.com/x",
        "http://[::1/x",
    ],
)
def test_internal_or_malformed_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError):
        ingest_body.check_url(url, {"http", "https"})


def test_codecs_option_becomes_the_main_ladder_and_those_beside_it() -> None:
    body = ingest_body.IngestBody.model_validate_json(
        json.dumps(ingest_doc("h1", options={"codecs": ["h264", "av1"]}))
    )
    opts = body.to_title_input("t1", "studio-a", "q").options
    assert (opts.codec, opts.extra_codecs) == ("h264", ["av1"])
    plain = ingest_body.IngestBody.model_validate_json(json.dumps(ingest_doc("h1", options={})))
    opts = plain.to_title_input("t1", "studio-a", "q").options
    assert (opts.codec, opts.extra_codecs) == ("h264", [])


def test_public_urls_pass() -> None:
    for url in (
        "https://media.example.com/a.mov",
        "HTTPS://Media.Example.com:8443/a%20b.mov?sig=abc#frag",
        "http://8.8.8.8/a",
        "https://[2001:4860:4860::8888]/a",
        "https://cdn.example.com./a",
    ):
        assert ingest_body.check_url(url, {"http", "https"}) == url


def test_signature_verifier_limits() -> None:
    with pytest.raises(Problem) as exc:
        webhook_auth.verify_signature([b"k"], f"t=1,v1={'0' * 64}", b"", now=1)
    assert exc.value.slug == "bad_signature"
    sig = sign_payload(b"k", b"body", 1000)
    assert webhook_auth.verify_signature([b"old", b"k"], sig, b"body", now=1300) == 1000
    with pytest.raises(Problem) as stale:
        webhook_auth.verify_signature([b"k"], sig, b"body", now=1300.5)
    assert stale.value.slug == "replayed_request"
    assert webhook_auth.replay_key("a", 1, b"x") != webhook_auth.replay_key("b", 1, b"x")
    assert webhook_auth.replay_key("a", 1, b"x") != webhook_auth.replay_key("a", 2, b"x")


def test_host_names_are_judged_by_what_they_resolve_to(monkeypatch: pytest.MonkeyPatch) -> None:
    stub = socket.getaddrinfo  # public_example_hosts' resolver

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "intranet.example.com":
            return stub("10.1.2.3", port, *args, **kwargs)
        return stub(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    for url in ("https://intranet.example.com/a.mov", "https://nowhere.invalid/a.mov"):
        with pytest.raises(ValueError, match="public addresses") as exc:
            ingest_body.check_url(url, {"https"})
        assert "intranet" not in str(exc.value) and "nowhere" not in str(exc.value)
    url = "https://media.example.com/a.mov"
    assert ingest_body.check_url(url, {"https"}) == url
