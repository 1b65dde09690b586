"""Dependency checks behind /readyz: catalog, object store, Redis, Temporal."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy.engine import Engine

from reelflow.catalog.viewer_queries import ping
from reelflow.config import Settings


async def readiness(settings: Settings, engine: Engine) -> dict[str, Any]:
    checks: dict[str, str] = {}
    checks["database"] = await asyncio.to_thread(_check_db, engine)
    checks["object_store"] = await asyncio.to_thread(_check_store, settings)
    checks["redis"] = await asyncio.to_thread(_check_redis, settings)
    checks["temporal"] = await _check_temporal(settings)
    return {"ready": all(v == "ok" for v in checks.values()), "checks": checks}


def _check_db(engine: Engine) -> str:
    try:
        ping(engine)
        return "ok"
    except Exception as exc:
        return f"error: {type(exc).__name__}"


def _check_store(settings: Settings) -> str:
    from reelflow.storage import store_from_settings

    try:
        store_from_settings(settings).healthcheck()
        return "ok"
    except Exception as exc:
        return f"error: {type(exc).__name__}"


def _check_redis(settings: Settings) -> str:
    import redis

    try:
        client = redis.Redis.from_url(
            settings.redis_url, socket_timeout=1, socket_connect_timeout=1
        )
        client.ping()
        return "ok"
    except Exception as exc:
        return f"error: {type(exc).__name__}"


async def _check_temporal(settings: Settings) -> str:
    from reelflow.workflows.client import connect

    try:
        client = await asyncio.wait_for(connect(settings), timeout=3)
        await asyncio.wait_for(client.service_client.check_health(), timeout=3)
        return "ok"
    except Exception as exc:
        return f"error: {type(exc).__name__}"
