"""Request ids, JSON access logs and Prometheus metrics, as one pure ASGI middleware.

Logs carry the route *template* (``/v1/playback/{session_id}/manifest.mpd``), never the
raw path or query: tokens ride in query strings and signatures in media paths, and
neither may reach a log. The same template is the metrics label, so cardinality stays
bounded however many titles and sessions there are.

Every label value comes from a closed set, never from the request as sent: the route is a
template or "unmatched", the method one of ``LABELLED_METHODS`` or "other", the status an
HTTP status code, the problem type a slug of the registry (problems.PROBLEM_TYPES) or
"other". Anyone can send ``FOO /random/path``; neither grows ``/metrics`` nor memory.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import sys
import time
from typing import Any, TextIO

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reelflow.playback_api.http.problems import PROBLEM_TYPES

log = logging.getLogger("reelflow.api")
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
LABELLED_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"})
OTHER = "other"


def method_label(method: str) -> str:
    """The request method as a label and log field: a known method, else "other"."""
    return method if method in LABELLED_METHODS else OTHER


def problem_label(slug: object) -> str:
    return slug if isinstance(slug, str) and slug in PROBLEM_TYPES else OTHER


# A QoE beacon's device class (stored in its qoe event; the events writer's QoE histograms
# are labelled by it, events/metrics.py): one of events.metrics.DEVICE_CLASSES.
_TV_UA = re.compile(r"smart-?tv|tizen|web0s|webos|hbbtv|crkey|appletv|aftb|aftt|bravia", re.I)
_TABLET_UA = re.compile(r"ipad|tablet|android(?!.*mobile)", re.I)
_MOBILE_UA = re.compile(r"mobi|iphone|ipod|android", re.I)


def device_class(user_agent: str) -> str:
    """tv, tablet, mobile or desktop from a User-Agent (desktop when nothing else matches)."""
    for name, pattern in (("tv", _TV_UA), ("tablet", _TABLET_UA), ("mobile", _MOBILE_UA)):
        if pattern.search(user_agent):
            return name
    return "desktop"


class Metrics:
    """One registry per app, so tests (and several apps in one process) do not collide."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "reelflow_http_requests_total",
            "HTTP requests by route template, method and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "reelflow_http_request_duration_seconds",
            "Request latency by route template",
            ["route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.licenses = Counter(
            "reelflow_licenses_issued_total",
            "Licenses issued (or relayed) by DRM system",
            ["drm"],
            registry=self.registry,
        )
        self.refusals = Counter(
            "reelflow_refusals_total",
            "Problem responses by problem type",
            ["type"],
            registry=self.registry,
        )
        self.events_lost = Counter(
            "reelflow_server_events_lost_total",
            "Server-side events the event log refused (the request they record went on)",
            ["type"],
            registry=self.registry,
        )
        self.active_leases = Gauge(
            "reelflow_active_stream_leases",
            "Concurrent-stream leases alive in Redis (sampled at scrape time)",
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        extra = getattr(record, "fields", None)
        if isinstance(extra, dict):
            entry.update(extra)
        if record.exc_info and record.exc_info[0] is not None:
            entry["exc"] = record.exc_info[0].__name__
        return json.dumps(entry, separators=(",", ":"), default=str)


def configure_json_logging(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("reelflow")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def route_template(app: Any, scope: Scope) -> str:
    """The matched route's path template, or "unmatched" (never the raw path)."""
    route = scope.get("route")
    if route is not None and hasattr(route, "path"):
        return str(route.path) or "/{static}"  # the web player's mount at "/"
    for candidate in getattr(app, "routes", ()):
        match, _ = candidate.matches(scope)
        if match == Match.FULL:
            return str(getattr(candidate, "path", "unmatched")) or "/{static}"
    return "unmatched"


class AccessLog:
    """One JSON line per request, written straight to a stream.

    Bypasses the logging module on purpose: building a LogRecord, taking handler locks and
    formatting cost more than the rest of a cached manifest request (bench/playback_api.py).
    Lines are whole writes of a text stream, so concurrent requests never interleave.
    """

    def __init__(self, stream: TextIO | None = None, *, enabled: bool = True) -> None:
        self.stream: TextIO = stream if stream is not None else sys.stderr
        self.enabled = enabled

    def write(self, fields: dict[str, Any]) -> None:
        if self.enabled:
            fields["ts"] = round(time.time(), 3)
            self.stream.write(json.dumps(fields, separators=(",", ":")) + "\n")


class ObservabilityMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: Metrics,
        access_log: AccessLog,
        router_app: Any = None,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.access_log = access_log
        self.router_app = router_app
        # Label lookups take a lock and hash the label tuple: keep the children at hand.
        self._counters: dict[tuple[str, str, int], Any] = {}
        self._histograms: dict[str, Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _incoming_request_id(scope) or secrets.token_hex(8)
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500
        header = (b"x-request-id", request_id.encode())

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), header]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - started
            route = route_template(self.router_app, scope)
            method = method_label(scope["method"])
            key = (route, method, status)
            counter = self._counters.get(key)
            if counter is None:
                counter = self._counters[key] = self.metrics.requests.labels(
                    route, method, str(status)
                )
            counter.inc()
            histogram = self._histograms.get(route)
            if histogram is None:
                histogram = self._histograms[route] = self.metrics.latency.labels(route)
            histogram.observe(elapsed)
            fields: dict[str, Any] = {
                "msg": "request",
                "request_id": request_id,
                "method": method,
                "route": route,
                "status": status,
                "ms": round(elapsed * 1000, 2),
            }
            state = scope.get("state", {})
            if "problem" in state:
                fields["problem"] = problem_label(state["problem"])
                self.metrics.refusals.labels(fields["problem"]).inc()
            if "account" in state:
                fields["account"] = state["account"]
            self.access_log.write(fields)


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            text = value.decode("latin-1")
            # Echoed into logs and headers: only a safe, short shape is accepted.
            return text if _REQUEST_ID_RE.match(text) else None
    return None
