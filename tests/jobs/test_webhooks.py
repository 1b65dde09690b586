"""Studio notifications end to end: real Redis, real rq worker, real HTTP receiver on loopback.

Retries: most tests enqueue with zero retry intervals, so rq requeues a failed attempt at
once and one burst `work()` drains every attempt without a scheduler. rq's scheduler only
has whole-second resolution (sub-second intervals truncate to "now"), so one test uses a
1 s interval and loops `work(burst=True, with_scheduler=True)` to cover the scheduled path.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer
from sqlalchemy.engine import Engine

from reelflow.catalog.studio_ingest import claim_title
from reelflow.catalog.titles import upsert_title
from reelflow.config import Settings, get_settings
from reelflow.jobs.queue import get_worker, redis_connection
from reelflow.jobs.webhooks import (
    DELIVERY_HEADER,
    EVENT_DELIVERED,
    EVENT_FAILED,
    EVENT_HEADER,
    InvalidCallbackURL,
    enqueue_notification,
    failed_notifications,
    notification_job_id,
)
from reelflow.studios.accounts import StudioCredentials, create_studio
from reelflow.studios.signatures import (
    CALLBACK_SIGNATURE_HEADER,
    SIGNATURE_HEADER,
    callback_signing_key,
    parse_signature,
)
from tests.fixtures.catalog_reads import events_for
from tests.services import free_port

# ---- a real HTTP receiver ------------------------------------------------------------


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    """Answers POSTs from a script of statuses, then `default`; records every request."""

    def __init__(self, script: list[int], default: int) -> None:
        self.script = list(script)
        self.default = default
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver._lock:
                    receiver.requests.append(Received(self.path, dict(self.headers), body))
                    status = receiver.script.pop(0) if receiver.script else receiver.default
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/reelflow"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


class ReceiverFactory:
    def __init__(self) -> None:
        self.started: list[Receiver] = []

    def __call__(self, script: list[int], default: int = 200) -> Receiver:
        receiver = Receiver(script, default).__enter__()
        self.started.append(receiver)
        return receiver


@pytest.fixture
def receiver_factory() -> Iterator[ReceiverFactory]:
    factory = ReceiverFactory()
    yield factory
    for receiver in factory.started:
        receiver.__exit__()


# ---- settings shared with the rq work horse -------------------------------------------


@pytest.fixture
def notify_settings(monkeypatch: pytest.MonkeyPatch, job_settings: Settings) -> Settings:
    """The job settings with loopback callbacks allowed (the receivers here listen on
    127.0.0.1; nothing else non-public is let through, see test_security_ssrf.py)."""
    monkeypatch.setenv("REELFLOW_ALLOW_LOOPBACK_CALLBACKS", "1")
    get_settings.cache_clear()
    return get_settings()


@dataclass
class Owner:
    """A studio owning the titles a test notifies about (studio-less titles get none)."""

    settings: Settings
    engine: Engine
    credentials: StudioCredentials

    @property
    def callback_key(self) -> bytes:
        return callback_signing_key(self.credentials.webhook_secret.encode())

    def new_title(self) -> str:
        # rq job ids are global in Redis, so every test run needs its own titles.
        name = f"t-{uuid.uuid4().hex[:12]}"
        claim = claim_title(self.engine, self.credentials.studio_id, name, "T")
        assert claim is not None  # the catalog id: <studio>--<name>
        return claim.catalog_id


@pytest.fixture
def owner(notify_settings: Settings, catalog: Engine) -> Owner:
    studio_id = f"studio-{uuid.uuid4().hex[:8]}"
    creds = create_studio(notify_settings, catalog, studio_id, "Studio")
    return Owner(notify_settings, catalog, creds)


def _drain(settings: Settings, job_id: str, *, with_scheduler: bool = False) -> Job:
    """Run burst workers until the job is finished or failed (guarded against hangs)."""
    conn = redis_connection(settings)
    give_up = time.monotonic() + 60
    while True:
        get_worker(settings, conn).work(burst=True, with_scheduler=with_scheduler)
        job = Job.fetch(job_id, connection=conn, serializer=JSONSerializer)
        if job.get_status() in (JobStatus.FINISHED, JobStatus.FAILED):
            return job
        if time.monotonic() > give_up:
            raise AssertionError(f"job {job_id} still {job.get_status()}")
        time.sleep(0.2)


def _events(engine: Engine, title_id: str, event: str) -> list[dict[str, object]]:
    return [e.detail for e in events_for(engine, title_id) if e.event == event]


# ---- enqueue validation ----------------------------------------------------------------


@pytest.mark.parametrize("url", ["ftp://studio.example/hook", "file:///etc/passwd", "studio/hook"])
def test_refuses_non_http_callback(settings: Settings, url: str) -> None:
    with pytest.raises(InvalidCallbackURL, match="http"):
        enqueue_notification(
            settings, title_id="x", version=1, event="published", callback_url=url, detail={}
        )
    assert issubclass(InvalidCallbackURL, ValueError)


def test_skips_without_callback_or_for_internal_events(settings: Settings) -> None:
    def enqueue(event: str, callback_url: str | None) -> str | None:
        return enqueue_notification(
            settings, title_id="x", version=1, event=event, callback_url=callback_url, detail={}
        )

    assert enqueue("published", None) is None
    assert enqueue("published", "") is None
    assert enqueue("packaging", "http://127.0.0.1:9/hook") is None


# ---- deliveries ---------------------------------------------------------------------


def test_delivers_signed_notification(
    owner: Owner, notify_settings: Settings, catalog: Engine, receiver_factory: ReceiverFactory
) -> None:
    receiver = receiver_factory([])
    title = owner.new_title()
    job_id = enqueue_notification(
        notify_settings,
        title_id=title,
        version=2,
        event="published",
        callback_url=receiver.url,
        detail={"regions": ["GB"]},
        retry_intervals=[0, 0],
    )
    assert job_id == notification_job_id(title, 2, "published")
    job = _drain(notify_settings, job_id)

    assert job.get_status() == JobStatus.FINISHED
    [req] = receiver.requests
    assert req.path == "/hooks/reelflow"
    assert req.headers["Content-Type"] == "application/json"
    assert req.headers[EVENT_HEADER] == "published"
    assert req.headers[DELIVERY_HEADER] == job_id
    doc = json.loads(req.body)
    assert doc["event"] == "published" and doc["title_id"] == title and doc["version"] == 2
    # The studio's own id for it, beside the catalog's.
    assert doc["studio_title_id"] == title.removeprefix(f"{owner.credentials.studio_id}--")
    assert doc["studio_title_id"] != title
    assert doc["detail"] == {"regions": ["GB"]} and doc["occurred_at"]
    # What a studio does on receipt: verify under the outbound key derived from its
    # webhook secret; tampering fails, and the secret itself does not verify it.
    assert SIGNATURE_HEADER not in req.headers
    signature = parse_signature(req.headers[CALLBACK_SIGNATURE_HEADER])
    assert signature.matches([owner.callback_key], req.body)
    assert abs(signature.timestamp - time.time()) <= 300
    tampered = req.body.replace(b'"GB"', b'"US"')
    assert not signature.matches([owner.callback_key], tampered)
    assert not signature.matches([owner.credentials.webhook_secret.encode()], req.body)

    [delivered] = _events(catalog, title, EVENT_DELIVERED)
    assert delivered["attempts"] == 1 and delivered["http_status"] == 200
    assert failed_notifications(catalog, title) == []


def test_retries_transient_errors_then_delivers(
    owner: Owner, notify_settings: Settings, catalog: Engine, receiver_factory: ReceiverFactory
) -> None:
    receiver = receiver_factory([500, 429])
    title = owner.new_title()
    job_id = enqueue_notification(
        notify_settings,
        title_id=title,
        version=1,
        event="ingested",
        callback_url=receiver.url,
        detail={},
        retry_intervals=[0, 0, 0],
    )
    assert job_id is not None
    job = _drain(notify_settings, job_id)

    assert job.get_status() == JobStatus.FINISHED
    assert len(receiver.requests) == 3
    assert {r.headers[DELIVERY_HEADER] for r in receiver.requests} == {job_id}
    [delivered] = _events(catalog, title, EVENT_DELIVERED)
    assert delivered["attempts"] == 3
    assert _events(catalog, title, EVENT_FAILED) == []


def test_gives_up_after_retry_bound(
    owner: Owner, notify_settings: Settings, catalog: Engine, receiver_factory: ReceiverFactory
) -> None:
    receiver = receiver_factory([], default=503)
    title = owner.new_title()
    job_id = enqueue_notification(
        notify_settings,
        title_id=title,
        version=1,
        event="expired",
        callback_url=receiver.url,
        detail={},
        retry_intervals=[0, 0],
    )
    assert job_id is not None
    job = _drain(notify_settings, job_id)

    assert job.get_status() == JobStatus.FAILED
    assert len(receiver.requests) == 3  # first attempt + 2 retries
    [failed] = failed_notifications(catalog, title)
    assert (failed.event, failed.attempts, failed.http_status) == ("expired", 3, 503)
    assert failed.delivery_id == job_id and failed.callback_url == receiver.url
    assert _events(catalog, title, EVENT_DELIVERED) == []


def test_client_error_is_permanent(
    owner: Owner, notify_settings: Settings, catalog: Engine, receiver_factory: ReceiverFactory
) -> None:
    receiver = receiver_factory([], default=400)
    title = owner.new_title()
    job_id = enqueue_notification(
        notify_settings,
        title_id=title,
        version=1,
        event="qc_failed",
        callback_url=receiver.url,
        detail={"reason": "black frames"},
        retry_intervals=[0, 0, 0],
    )
    assert job_id is not None
    _drain(notify_settings, job_id)

    assert len(receiver.requests) == 1
    [failed] = failed_notifications(catalog, title)
    assert (failed.attempts, failed.http_status) == (1, 400)
    assert failed.error is not None and "400" in failed.error
    assert [f.title_id for f in failed_notifications(catalog)] == [title]


def test_connection_refused_is_retried_then_failed(
    owner: Owner, notify_settings: Settings, catalog: Engine
) -> None:
    title = owner.new_title()
    job_id = enqueue_notification(
        notify_settings,
        title_id=title,
        version=1,
        event="taken_down",
        callback_url=f"http://127.0.0.1:{free_port()}/hook",
        detail={},
        retry_intervals=[0],
    )
    assert job_id is not None
    job = _drain(notify_settings, job_id)

    assert job.get_status() == JobStatus.FAILED
    [failed] = failed_notifications(catalog, title)
    assert failed.attempts == 2 and failed.http_status is None
    assert failed.error is not None and "Connect" in failed.error


def test_duplicate_enqueue_sends_once(
    owner: Owner, notify_settings: Settings, catalog: Engine, receiver_factory: ReceiverFactory
) -> None:
    receiver = receiver_factory([])
    title = owner.new_title()

    def enqueue() -> str | None:
        return enqueue_notification(
            notify_settings,
            title_id=title,
            version=1,
            event="published",
            callback_url=receiver.url,
            detail={},
            retry_intervals=[0],
        )

    first = enqueue()
    second = enqueue()
    assert first is not None and first == second
    _drain(notify_settings, first)
    assert enqueue() == first
    _drain(notify_settings, first)
    assert len(receiver.requests) == 1

    # Even after Redis forgot the job, the catalog's delivery record stops a resend.
    Job.fetch(
        first, connection=redis_connection(notify_settings), serializer=JSONSerializer
    ).delete()
    assert enqueue() == first
    job = _drain(notify_settings, first)
    assert job.return_value() == {"status": "already_delivered", "delivery_id": first}
    assert len(receiver.requests) == 1
    assert len(_events(catalog, title, EVENT_DELIVERED)) == 1


def test_backoff_interval_goes_through_rq_scheduler(
    owner: Owner, notify_settings: Settings, catalog: Engine, receiver_factory: ReceiverFactory
) -> None:
    receiver = receiver_factory([500])
    title = owner.new_title()
    job_id = enqueue_notification(
        notify_settings,
        title_id=title,
        version=1,
        event="published",
        callback_url=receiver.url,
        detail={},
        retry_intervals=[1],
    )
    assert job_id is not None
    conn = redis_connection(notify_settings)
    get_worker(notify_settings, conn).work(burst=True)
    # After the 500 the job waits in rq's scheduled registry rather than the queue.
    assert (
        Job.fetch(job_id, connection=conn, serializer=JSONSerializer).get_status()
        == JobStatus.SCHEDULED
    )
    assert len(receiver.requests) == 1

    job = _drain(notify_settings, job_id, with_scheduler=True)
    assert job.get_status() == JobStatus.FINISHED
    assert len(receiver.requests) == 2
    [delivered] = _events(catalog, title, EVENT_DELIVERED)
    assert delivered["attempts"] == 2


# ---- refusals (the address rule itself: tests/ingest/test_security_ssrf.py) ------------


def test_a_redirect_is_a_failed_delivery_not_followed(
    owner: Owner, notify_settings: Settings, catalog: Engine, receiver_factory: ReceiverFactory
) -> None:
    receiver = receiver_factory([], default=302)
    title = owner.new_title()
    job_id = enqueue_notification(
        notify_settings,
        title_id=title,
        version=1,
        event="published",
        callback_url=receiver.url,
        detail={},
        retry_intervals=[0, 0],
    )
    assert job_id is not None
    _drain(notify_settings, job_id)
    assert len(receiver.requests) == 1  # no retry, and the Location was not asked for
    [failed] = failed_notifications(catalog, title)
    assert (failed.attempts, failed.http_status) == (1, 302)
    assert failed.error is not None and "redirects are not followed" in failed.error


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/hook",
        "http://[64:ff9b::a9fe:a9fe]/hook",
        "http://[::ffff:127.0.0.1]/hook",
    ],
)
def test_a_non_public_callback_is_refused_once_even_with_loopback_allowed(
    owner: Owner, notify_settings: Settings, catalog: Engine, url: str
) -> None:
    assert notify_settings.allow_loopback_callbacks
    title = owner.new_title()
    job_id = enqueue_notification(
        notify_settings,
        title_id=title,
        version=1,
        event="published",
        callback_url=url,
        detail={},
        retry_intervals=[0, 0],
    )
    assert job_id is not None
    job = _drain(notify_settings, job_id)
    assert job.return_value() == {"status": "refused", "attempts": 1}
    [failed] = failed_notifications(catalog, title)
    assert failed.attempts == 1 and failed.http_status is None
    assert failed.error is not None and "non-public" in failed.error


def test_a_title_without_a_studio_gets_no_callback(
    notify_settings: Settings, catalog: Engine, receiver_factory: ReceiverFactory
) -> None:
    receiver = receiver_factory([])
    title = f"t-{uuid.uuid4().hex[:12]}"
    upsert_title(catalog, title_id=title, name="Ops title")
    job_id = enqueue_notification(
        notify_settings,
        title_id=title,
        version=1,
        event="published",
        callback_url=receiver.url,
        detail={},
        retry_intervals=[0],
    )
    assert job_id is not None
    _drain(notify_settings, job_id)
    assert receiver.requests == []
    [failed] = failed_notifications(catalog, title)
    assert failed.error is not None and "no owning studio" in failed.error


def test_loopback_callbacks_are_refused_by_default(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, receiver_factory: ReceiverFactory
) -> None:
    from reelflow.jobs.webhooks import Notification, RefusedCallback, _post

    monkeypatch.delenv("REELFLOW_ALLOW_LOOPBACK_CALLBACKS", raising=False)
    settings = Settings(home=tmp_path / "state")
    assert settings.allow_loopback_callbacks is False  # the default
    receiver = receiver_factory([])
    note = Notification("d", "t", 1, "published", receiver.url, "2026-01-01T00:00:00+00:00")
    with pytest.raises(RefusedCallback, match="loopback"):
        _post(note, b"k" * 32, allow_loopback=settings.allow_loopback_callbacks)
    assert receiver.requests == []
    with pytest.raises(ValueError, match="test-only"):
        Settings(env="production", allow_loopback_callbacks=True)
