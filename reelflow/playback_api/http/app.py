"""The FastAPI application factory for the playback service."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.engine import Engine

from reelflow.catalog import engine_from_settings
from reelflow.config import Settings, get_settings
from reelflow.playback_api.auth.auth_config import check_embedded_bind, dev_auth_enabled
from reelflow.playback_api.http.admission import AdmissionMiddleware, Limits
from reelflow.playback_api.http.body_limit import BodyLimitMiddleware
from reelflow.playback_api.http.context import ApiContext
from reelflow.playback_api.http.embedded_guard import EmbeddedHostGuard, extra_host
from reelflow.playback_api.http.observability import AccessLog, Metrics, ObservabilityMiddleware
from reelflow.playback_api.http.problems import Problem, install_problem_handlers, problem_handler
from reelflow.playback_api.http.readiness import readiness
from reelflow.storage import ObjectStore, store_from_settings

log = logging.getLogger("reelflow.api")

OPENAPI_TAGS = [
    {"name": "catalog", "description": "What a viewer may watch, search and resume."},
    {"name": "playback", "description": "Playback sessions, heartbeats and manifests."},
    {"name": "licenses", "description": "ClearKey licenses and the multi-DRM license proxy."},
    {"name": "studio", "description": "Signed ingest webhooks and title status for studios."},
    {"name": "qoe", "description": "Player quality-of-experience beacons and aggregates."},
    {"name": "privacy", "description": "Analytics consent; erasure of a viewer's events."},
    {"name": "media", "description": "The embedded origin: segments under signed prefixes."},
    {"name": "operations", "description": "Health, readiness and Prometheus metrics."},
    {"name": "dev", "description": "Embedded mode bound to loopback only."},
]


# SOAPAction: PlayReady challenges carry it to the license proxy. Idempotency-Key: a
# player's playback start, safe to retry (delivery/idempotency.py).
ALLOW_HEADERS = ("Authorization", "Content-Type", "Range", "X-Request-Id", "SOAPAction",
                 "Idempotency-Key")  # fmt: skip


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    # Embedded mode on a public bind: ConfigError, or the override's warning.
    public_bind_warning = check_embedded_bind(settings)
    if public_bind_warning:
        log.warning(public_bind_warning)
    # Refuses to start on a catalog schema that is behind (SchemaBehind names the command).
    engine = engine_from_settings(settings)
    store = store_from_settings(settings)
    metrics = Metrics()
    access_log = AccessLog(enabled=settings.access_log)
    app = FastAPI(
        title="reelflow playback API",
        version="0.1.0",
        description=(
            "Catalog, playback sessions, tokenized manifests, DRM licenses, studio ingest, "
            "progress and QoE. Every error is an RFC 9457 application/problem+json body "
            "whose `type` is a stable URI."
        ),
        openapi_tags=OPENAPI_TAGS,
        lifespan=_lifespan(settings, engine, store),
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.metrics = metrics
    app.state.access_log = access_log
    _install_error_handlers(app)
    _include_api_routes(app, settings)
    _add_operations_routes(app, settings, engine, metrics)

    from reelflow.playback_api.http.web import mount_web

    mount_web(app, settings)
    _add_middleware(app, settings, metrics, access_log)
    return app


def _lifespan(
    settings: Settings, engine: Engine, store: ObjectStore
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Built inside the server's event loop: the asyncio Redis client belongs to it.
        ctx = ApiContext.build(settings, engine, store)
        app.state.ctx = ctx
        # Everything alive now (modules, the app, the routes) lives as long as the process:
        # keep it out of the collector, whose full passes over it stalled requests ~100 ms.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            await ctx.close()

    return lifespan


def _install_error_handlers(app: FastAPI) -> None:
    install_problem_handlers(app)

    async def redis_down(request: Request, exc: Exception) -> Response:
        # Sessions, leases and rate limits live in Redis: without it, say so (503), not 500.
        return await problem_handler(
            request, Problem("service_unavailable", "session storage is not reachable")
        )

    app.add_exception_handler(RedisConnectionError, redis_down)
    app.add_exception_handler(RedisTimeoutError, redis_down)


def _include_api_routes(app: FastAPI, settings: Settings) -> None:
    from reelflow.playback_api.routes import (
        admin,
        admin_experiments,
        admin_qoe,
        catalog,
        dev,
        events,
        home,
        license_proxy,
        licenses,
        manifests,
        media,
        playback,
        privacy,
        qoe,
        studio,
    )

    # Routes are matched in order, each router costing every request behind it a few
    # microseconds: the per-segment paths go first, then viewer event batches (one every few
    # seconds per player), then the per-session manifests and licenses.
    app.include_router(media.router)
    for module in (
        events, manifests, licenses, playback, catalog, home, license_proxy, qoe, privacy,
        studio, admin,
    ):  # fmt: skip
        app.include_router(module.router)
    app.include_router(admin_qoe.router)
    app.include_router(admin_experiments.router)
    # Always routed (else the web mount's catch-all answers 405), documented only when on.
    app.include_router(dev.router, include_in_schema=dev_auth_enabled(settings))


def _add_operations_routes(
    app: FastAPI, settings: Settings, engine: Engine, metrics: Metrics
) -> None:
    @app.get("/healthz", tags=["operations"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"])
    async def readyz() -> JSONResponse:
        report: dict[str, Any] = await readiness(settings, engine)
        return JSONResponse(report, status_code=200 if report["ready"] else 503)

    @app.get("/metrics", tags=["operations"], response_class=Response)
    async def prometheus_metrics(request: Request) -> Response:
        ctx: ApiContext = request.app.state.ctx
        try:
            metrics.active_leases.set(await ctx.sessions.count_active_leases())
        except Exception:  # Redis down: the other metrics still matter most
            metrics.active_leases.set(float("nan"))
        return Response(metrics.render(), media_type="text/plain; version=0.0.4")


def _add_middleware(
    app: FastAPI, settings: Settings, metrics: Metrics, access_log: AccessLog
) -> None:
    # Outermost first: observability sees every response, including 413s and CORS answers.
    if settings.api_admission:
        # Innermost: a refused request still gets CORS headers (a browser may read its
        # Retry-After) and is counted and logged; preflights never wait for a slot.
        app.add_middleware(AdmissionMiddleware, limits=Limits.from_settings(settings))
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.api_max_body_bytes)
    origins = [o.strip() for o in settings.cors_origins.split(",") if o.strip()]
    app.add_middleware(
        CORSMiddleware,
        allow_origins=origins,
        allow_methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
        allow_headers=[*ALLOW_HEADERS],
        expose_headers=["Content-Length", "Content-Range", "X-Request-Id", "Retry-After"],
        max_age=600,
    )
    if settings.env == "embedded":
        # Outside CORS: a request under another Host (proxy, DNS rebinding) gets nothing.
        app.add_middleware(EmbeddedHostGuard, extra=extra_host(settings))
    app.add_middleware(
        ObservabilityMiddleware, metrics=metrics, access_log=access_log, router_app=app.router
    )
