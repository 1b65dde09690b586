"""RFC 9457 problem details: one exception type, a registry of stable slugs, FastAPI handlers.

Every refusal the API makes is a ``Problem`` raised with a registered slug, so a client can
branch on ``type`` (a stable URI) instead of parsing ``detail`` text. Handlers turn FastAPI's
own validation errors and routing 404/405 into the same ``application/problem+json`` shape.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_BASE_URI = "https://reelflow.dev/problems/"
PROBLEM_MEDIA_TYPE = "application/problem+json"

# Members the RFC defines; extra fields must not shadow them.
_RESERVED = frozenset({"type", "title", "status", "detail", "instance"})


@dataclass(frozen=True)
class ProblemType:
    slug: str
    title: str
    status: int

    @property
    def uri(self) -> str:
        return PROBLEM_BASE_URI + self.slug


def _registry(*types: ProblemType) -> dict[str, ProblemType]:
    return {t.slug: t for t in types}


PROBLEM_TYPES: dict[str, ProblemType] = _registry(
    # Entitlement refusals: each distinct so players can tell the viewer why.
    ProblemType("not_published", "Title is not published", 404),
    ProblemType("outside_window", "Title is outside its availability window", 403),
    ProblemType("geo_blocked", "Title is not available in your country", 403),
    ProblemType("plan_insufficient", "Your plan does not include this title", 403),
    ProblemType("too_many_streams", "Too many concurrent streams", 409),
    ProblemType("device_in_use", "This device is playing another session", 409),
    # Authentication and authorisation.
    ProblemType("invalid_token", "Invalid or missing access token", 401),
    ProblemType("token_expired", "Access token has expired", 401),
    ProblemType("forbidden", "Forbidden", 403),
    ProblemType("invalid_api_key", "Invalid or missing studio API key", 401),
    ProblemType("link_expired", "Signed link has expired", 410),
    ProblemType("bad_signature", "Request signature is invalid", 401),
    ProblemType("replayed_request", "Request was already received or is too old", 409),
    ProblemType("idempotency_conflict", "Idempotency-Key reused with another body", 422),
    ProblemType("uploads_unavailable", "Uploads need an S3 object store", 501),
    # Admin changes the resource's state forbids (a started experiment's variants).
    ProblemType("conflict", "The resource's state does not allow this change", 409),
    # Playback sessions and licenses.
    ProblemType("session_expired", "Playback session has ended", 410),
    ProblemType("key_withheld", "No requested key may be issued to this session", 403),
    ProblemType("too_many_cdms", "This session's licenses went to too many DRM clients", 403),
    ProblemType("unsupported_drm", "No DRM system in common with this title", 406),
    ProblemType("drm_policy", "The requested DRM may not unlock this title", 403),
    ProblemType("license_unavailable", "License service is not available", 503),
    ProblemType("upstream_error", "License service answered with an error", 502),
    # Generic HTTP-level problems.
    ProblemType("not_found", "Not found", 404),
    ProblemType("method_not_allowed", "Method not allowed", 405),
    ProblemType("rate_limited", "Too many requests", 429),
    ProblemType("payload_too_large", "Payload too large", 413),
    ProblemType("range_not_satisfiable", "Range not satisfiable", 416),
    ProblemType("validation_error", "Request validation failed", 422),
    ProblemType("service_unavailable", "A service the API depends on is unavailable", 503),
    # Admission control (http/admission.py): this worker is at capacity; Retry-After says when.
    ProblemType("overloaded", "The server is at capacity", 503),
    ProblemType("internal_error", "Internal server error", 500),
)

# Routing errors raised by Starlette itself, mapped onto registered slugs.
_STATUS_SLUGS = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}

# Every 503 says when to come back (RFC 9110 section 10.2.3): a player or load balancer told
# nothing retries at once, all together, while Redis or the catalog restarts.
RETRY_AFTER_UNAVAILABLE_S = 5

_WWW_AUTHENTICATE = {
    "invalid_token": 'Bearer error="invalid_token"',
    "token_expired": 'Bearer error="invalid_token", error_description="token expired"',
}


class UnknownProblemType(KeyError):
    """A Problem was raised with a slug that is not in PROBLEM_TYPES (a programming error)."""


class Problem(Exception):
    """An RFC 9457 problem; raise it anywhere in a request and the handler renders it."""

    def __init__(
        self,
        slug: str,
        detail: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        try:
            self.problem_type = PROBLEM_TYPES[slug]
        except KeyError:
            raise UnknownProblemType(f"unregistered problem type {slug!r}") from None
        clash = _RESERVED.intersection(extra)
        if clash:
            raise ValueError(f"extra problem fields shadow RFC 9457 members: {sorted(clash)}")
        self.detail = detail
        self.extra = extra
        self.headers = dict(headers or {})
        if slug in _WWW_AUTHENTICATE:
            self.headers.setdefault("WWW-Authenticate", _WWW_AUTHENTICATE[slug])
        if self.problem_type.status == 503:
            self.headers.setdefault("Retry-After", str(RETRY_AFTER_UNAVAILABLE_S))
        super().__init__(f"{slug}: {detail}" if detail else slug)

    @property
    def slug(self) -> str:
        return self.problem_type.slug

    @property
    def status(self) -> int:
        return self.problem_type.status

    @property
    def type_uri(self) -> str:
        return self.problem_type.uri

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": self.type_uri,
            "title": self.problem_type.title,
            "status": self.status,
        }
        if self.detail:
            body["detail"] = self.detail
        body.update(self.extra)
        return body


class ProblemResponse(JSONResponse):
    media_type = PROBLEM_MEDIA_TYPE


def problem_response(problem: Problem) -> ProblemResponse:
    return ProblemResponse(problem.to_dict(), status_code=problem.status, headers=problem.headers)


async def problem_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Problem)
    request.state.problem = exc.slug
    return problem_response(exc)


async def validation_problem_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # Only location, message and kind: echoing "input" could reflect secrets or huge bodies.
    errors = [
        {"loc": list(err.get("loc", ())), "msg": err.get("msg", ""), "type": err.get("type", "")}
        for err in exc.errors()
    ]
    problem = Problem("validation_error", "the request did not match the schema", errors=errors)
    request.state.problem = problem.slug  # counted and logged by the observability middleware
    return problem_response(problem)


async def http_problem_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers or {})
    slug = _STATUS_SLUGS.get(exc.status_code)
    detail = exc.detail if isinstance(exc.detail, str) else None
    if slug is not None:
        problem = Problem(slug, detail, headers=headers)
        request.state.problem = problem.slug
        return problem_response(problem)
    # RFC 9457 section 4.2.1: "about:blank" means "nothing beyond the HTTP status".
    try:
        phrase = HTTPStatus(exc.status_code).phrase
    except ValueError:
        phrase = "HTTP error"
    body: dict[str, Any] = {"type": "about:blank", "title": phrase, "status": exc.status_code}
    if detail and detail != phrase:
        body["detail"] = detail
    return ProblemResponse(body, status_code=exc.status_code, headers=headers)


async def unexpected_problem_handler(request: Request, exc: Exception) -> JSONResponse:
    # The exception itself is logged by the server; the body says nothing about internals.
    logging.getLogger("reelflow.api").error(
        "unhandled %s", type(exc).__name__, exc_info=exc, extra={"fields": {"route": "?"}}
    )
    request.state.problem = "internal_error"
    return problem_response(Problem("internal_error", "the server failed to answer"))


async def catalog_down_handler(request: Request, exc: Exception) -> JSONResponse:
    # The catalog's server refused, dropped or could not hand out a connection (a restart, a
    # failover, a full pool): a 503 the player retries, not a 500. Paths that must say more
    # (nothing erased, keys withheld) catch SQLAlchemyError themselves first.
    problem = Problem("service_unavailable", "the catalog is not reachable; try again shortly")
    request.state.problem = problem.slug
    return problem_response(problem)


def install_problem_handlers(app: FastAPI) -> None:
    """Register every handler so no error leaves the app as anything but problem+json."""
    app.add_exception_handler(Exception, unexpected_problem_handler)
    for unreachable in (OperationalError, InterfaceError, PoolTimeout):
        app.add_exception_handler(unreachable, catalog_down_handler)
    app.add_exception_handler(Problem, problem_handler)
    app.add_exception_handler(RequestValidationError, validation_problem_handler)
    app.add_exception_handler(StarletteHTTPException, http_problem_handler)
