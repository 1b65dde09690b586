"""Outbound studio notifications: signed JSON POSTs to the studio's callback URL, via rq.

A lifecycle change a studio cares about is enqueued once per (title, version, event): the
rq job id is derived from that triple and enqueued with ``unique=True``, and the job checks
the catalog for an earlier delivery before sending, so a repeated publish notifies once
even after the rq job has expired from Redis.

Failure handling, per attempt:
- 2xx: delivered, recorded as lifecycle event ``notification_delivered``.
- 5xx, 408, 429, timeouts, connection errors: transient; the job raises and rq retries it
  with the intervals given at enqueue (exponential by default).
- any other status (3xx, 4xx): permanent; recorded as ``notification_failed`` at once and
  the job ends without raising, so rq does not retry it.
When the last retry fails, rq's failure callback records ``notification_failed``.

Each POST carries ``Reelflow-Callback-Signature: t=<unix>,v1=<hex>`` (format, key
derivation, signer and parser in ``reelflow.studios.signatures``) under a key derived for
this direction from the owning studio's webhook secret, so a captured callback cannot be
replayed as an ingest request. Titles without a studio (ingested by ops) get no
callbacks: the root signing secret never signs anything a third party receives, so such
a notification is recorded as failed, not sent.

Every attempt is held to the public-address rule (``reelflow.ingest.public_address``): the
host is resolved once, every address must be public, and the connection is pinned to
those addresses (no second lookup for DNS rebinding to answer). A non-public host is a
permanent failure; a name that does not resolve is retried. Redirects are never
followed: a 3xx is a failed delivery.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import asdict, dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import httpx
from redis import Redis
from rq import Callback, Retry, get_current_job
from rq.exceptions import DuplicateJobError
from rq.job import Job
from sqlalchemy.engine import Engine

from reelflow.catalog.models import LifecycleEvent, as_utc, utcnow
from reelflow.catalog.studios import title_owner
from reelflow.catalog.titles import append_event, events_named, has_event
from reelflow.config import Settings, get_settings
from reelflow.ingest.public_address import (
    NonPublicAddress,
    Resolver,
    UnresolvableHost,
    pinned_client,
)
from reelflow.jobs.queue import get_queue, job_catalog
from reelflow.studios.events import STUDIO_EVENTS
from reelflow.studios.signatures import (
    CALLBACK_SIGNATURE_HEADER,
    callback_signing_key,
    sign_payload,
)

EVENT_DELIVERED = "notification_delivered"
EVENT_FAILED = "notification_failed"
ACTOR = "webhooks"

EVENT_HEADER = "Reelflow-Event"
DELIVERY_HEADER = "Reelflow-Delivery"

# Seconds between attempts (6 attempts over ~20 minutes). rq's scheduler works in whole
# seconds, so intervals are ints; 0 means "requeue at once".
DEFAULT_RETRY_INTERVALS: tuple[int, ...] = (10, 30, 90, 270, 810)
DEFAULT_TIMEOUT_S = 10.0
# Finished/failed jobs stay in Redis this long, so `unique=True` rejects a repeat enqueue.
JOB_TTL_S = 30 * 24 * 3600

_TRANSIENT_STATUSES = frozenset({408, 429})


class InvalidCallbackURL(ValueError):
    """A callback URL that is not an absolute http(s) URL."""


class RefusedCallback(RuntimeError):
    """The callback is not sent and retrying will not change that (non-public host,
    studio-less title)."""


class TransientDeliveryError(RuntimeError):
    """An attempt failed in a way worth retrying (5xx, 408, 429, timeout, network)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Notification:
    """The rq job's argument (passed as a plain dict so any rq serializer can carry it)."""

    delivery_id: str
    title_id: str
    version: int
    event: str
    callback_url: str
    occurred_at: str
    detail: dict[str, Any] = field(default_factory=dict)
    timeout_s: float = DEFAULT_TIMEOUT_S
    max_attempts: int = 1

    def to_payload(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Notification:
        return cls(**payload)

    def body(self, studio_title_id: str | None = None) -> bytes:
        """``title_id``: the catalog's (playback); ``studio_title_id``: the studio's own
        (its namespace, ``<studio>--<id>`` in the catalog; the same for older titles)."""
        doc = {
            "event": self.event,
            "title_id": self.title_id,
            "studio_title_id": studio_title_id or self.title_id,
            "version": self.version,
            "occurred_at": self.occurred_at,
            "detail": self.detail,
        }
        return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()


@dataclass(frozen=True)
class FailedNotification:
    title_id: str
    version: int
    event: str
    delivery_id: str | None
    callback_url: str | None
    attempts: int | None
    http_status: int | None
    error: str | None
    at: datetime


# ---- enqueue -------------------------------------------------------------------------


def notification_job_id(title_id: str, version: int, event: str) -> str:
    """Stable rq job id for one notification (rq ids allow only [A-Za-z0-9_-])."""
    digest = hashlib.sha256(f"{title_id}\x00{version}\x00{event}".encode()).hexdigest()
    return f"notify-{digest[:40]}"


def validate_callback_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidCallbackURL(f"callback URL {url!r} is not an absolute http:// or https:// URL")
    return url


def enqueue_notification(
    settings: Settings,
    *,
    title_id: str,
    version: int,
    event: str,
    callback_url: str | None,
    detail: dict[str, Any] | None = None,
    occurred_at: datetime | None = None,
    retry_intervals: Sequence[int] = DEFAULT_RETRY_INTERVALS,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    connection: Redis | None = None,
) -> str | None:
    """Enqueue the studio notification for a lifecycle event; returns the rq job id.

    None when the title has no callback URL or studios do not get this event. Enqueuing
    the same (title, version, event) again returns the same id and sends nothing more.
    Raises InvalidCallbackURL (a ValueError) for anything but an http(s) URL.
    """
    if not callback_url or event not in STUDIO_EVENTS:
        return None
    validate_callback_url(callback_url)
    intervals = [int(i) for i in retry_intervals]
    job_id = notification_job_id(title_id, version, event)
    notification = Notification(
        delivery_id=job_id,
        title_id=title_id,
        version=version,
        event=event,
        callback_url=callback_url,
        occurred_at=(occurred_at or utcnow()).isoformat(),
        detail=dict(detail or {}),
        timeout_s=timeout_s,
        max_attempts=len(intervals) + 1,
    )
    queue = get_queue(settings, connection)
    # unique=True is atomic in Redis: two concurrent publishes enqueue one job.
    with suppress(DuplicateJobError):
        queue.enqueue(
            deliver,
            notification.to_payload(),
            job_id=job_id,
            unique=True,
            retry=Retry(max=len(intervals), interval=intervals) if intervals else None,
            on_failure=Callback(on_delivery_failure),
            job_timeout=int(timeout_s) * 2 + 30,
            result_ttl=JOB_TTL_S,
            failure_ttl=JOB_TTL_S,
            description=f"notify {event} {title_id} v{version}",
        )
    return job_id


# ---- the rq job ----------------------------------------------------------------------


def deliver(payload: dict[str, Any]) -> dict[str, Any]:
    """rq job: POST one signed notification; raises TransientDeliveryError to be retried.

    Builds its own settings and catalog engine from `get_settings()` (REELFLOW_* env), as
    it runs in an rq work horse, not in the process that enqueued it.
    """
    note = Notification.from_payload(payload)
    settings = get_settings()
    attempt = _current_attempt(note)
    with job_catalog(settings) as engine:
        if _already_delivered(engine, note.delivery_id):
            return {"status": "already_delivered", "delivery_id": note.delivery_id}
        try:
            key, name = _callback_key(settings, engine, note.title_id)
            status = _post(
                note, key, studio_title_id=name, allow_loopback=settings.allow_loopback_callbacks
            )
        except RefusedCallback as exc:
            _record_failure(engine, note, attempts=attempt, http_status=None, error=str(exc))
            return {"status": "refused", "attempts": attempt}
        if 200 <= status < 300:
            _record(engine, note, EVENT_DELIVERED, attempts=attempt, http_status=status)
            return {"status": "delivered", "http_status": status, "attempts": attempt}
        if status >= 500 or status in _TRANSIENT_STATUSES:
            raise TransientDeliveryError(f"callback answered HTTP {status}", status=status)
        # A 4xx or a redirect will not change on retry: the studio must fix its endpoint.
        # Redirects are not followed: the target would escape the address check.
        redirect = " (redirects are not followed)" if 300 <= status < 400 else ""
        error = f"callback answered HTTP {status}{redirect}; not retried"
        _record_failure(engine, note, attempts=attempt, http_status=status, error=error)
        return {"status": "failed", "http_status": status, "attempts": attempt}


def _callback_key(settings: Settings, engine: Engine, title_id: str) -> tuple[bytes, str]:
    """The outbound key of the owning studio's current webhook secret, and the studio's
    own id for the title; RefusedCallback for a title no studio owns (nobody outside may
    hold a key derived from ours)."""
    from reelflow.studios.accounts import active_webhook_secrets

    owner = title_owner(engine, title_id)
    if owner is None:
        raise RefusedCallback("the title has no owning studio: callbacks are not sent")
    studio, name = owner
    return callback_signing_key(active_webhook_secrets(settings, studio, time.time())[0]), name


def _post(
    note: Notification,
    key: bytes,
    *,
    studio_title_id: str | None = None,
    resolver: Resolver | None = None,
    allow_loopback: bool = False,
) -> int:
    body = note.body(studio_title_id)
    headers = {
        "Content-Type": "application/json",
        CALLBACK_SIGNATURE_HEADER: sign_payload(key, body, int(time.time())),
        EVENT_HEADER: note.event,
        DELIVERY_HEADER: note.delivery_id,
    }
    try:
        # Checked on every attempt and pinned: DNS may have changed since ingest.
        client = pinned_client(
            note.callback_url,
            timeout=note.timeout_s,
            resolver=resolver,
            allow_loopback=allow_loopback,
        )
    except NonPublicAddress as exc:
        raise RefusedCallback(f"callback {exc}; not sent") from exc
    except UnresolvableHost as exc:
        raise TransientDeliveryError(f"callback {exc}") from exc
    except (ValueError, httpx.InvalidURL) as exc:
        raise RefusedCallback("the callback URL is not an absolute http(s) URL") from exc
    try:
        with client:
            response = client.post(note.callback_url, content=body, headers=headers)
    except httpx.TimeoutException as exc:
        raise TransientDeliveryError(f"timed out after {note.timeout_s} s: {exc}") from exc
    except httpx.TransportError as exc:
        raise TransientDeliveryError(f"{type(exc).__name__}: {exc}") from exc
    return response.status_code


def on_delivery_failure(
    job: Job,
    connection: Redis,
    exc_type: type[BaseException] | None,
    exc_value: BaseException | None,
    traceback: TracebackType | None,
) -> None:
    """rq failure callback: runs after every raised attempt; records only the last one."""
    if job.should_retry:
        return  # rq requeues or schedules it after this callback returns
    note = Notification.from_payload(job.args[0])
    status = exc_value.status if isinstance(exc_value, TransientDeliveryError) else None
    error = str(exc_value) if exc_value is not None else getattr(exc_type, "__name__", "error")
    with job_catalog(get_settings()) as engine:
        _record_failure(engine, note, attempts=note.max_attempts, http_status=status, error=error)


def _current_attempt(note: Notification) -> int:
    job = get_current_job()
    if job is None or job.retries_left is None:
        return 1
    # rq decrements retries_left as it requeues, so attempts made = max - left.
    return note.max_attempts - job.retries_left


def _already_delivered(engine: Engine, delivery_id: str) -> bool:
    return has_event(engine, _dedupe_key(EVENT_DELIVERED, delivery_id))


def _detail(note: Notification, **extra: Any) -> dict[str, Any]:
    return {
        "delivery_id": note.delivery_id,
        "event": note.event,
        "callback_url": note.callback_url,
        **extra,
    }


def _record_failure(
    engine: Engine, note: Notification, *, attempts: int, http_status: int | None, error: str
) -> None:
    _record(engine, note, EVENT_FAILED, attempts=attempts, http_status=http_status, error=error)


def _record(engine: Engine, note: Notification, event: str, **extra: Any) -> None:
    """A delivery's outcome in the lifecycle log, once per delivery and outcome."""
    append_event(
        engine,
        title_id=note.title_id,
        version=note.version,
        event=event,
        actor=ACTOR,
        detail=_detail(note, **extra),
        dedupe_key=_dedupe_key(event, note.delivery_id),
    )


def _dedupe_key(event: str, delivery_id: str) -> str:
    return f"{event}:{delivery_id}"


# ---- reads for the CLI ---------------------------------------------------------------


def failed_notifications(engine: Engine, title_id: str | None = None) -> list[FailedNotification]:
    """Notifications given up on, newest first (optionally for one title)."""
    return [_as_failed(row) for row in events_named(engine, EVENT_FAILED, title_id=title_id)]


def _as_failed(row: LifecycleEvent) -> FailedNotification:
    d = row.detail or {}
    at = as_utc(row.at)
    assert at is not None
    return FailedNotification(
        title_id=row.title_id,
        version=row.version,
        event=str(d.get("event", "")),
        delivery_id=d.get("delivery_id"),
        callback_url=d.get("callback_url"),
        attempts=d.get("attempts"),
        http_status=d.get("http_status"),
        error=d.get("error"),
        at=at,
    )
