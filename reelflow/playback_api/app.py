"""The FastAPI application factory for the playback service."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from reelflow.catalog import engine_from_settings
from reelflow.config import Settings, get_settings
from reelflow.playback_api.readiness import readiness


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    # Refuses to start on a catalog schema that is behind (SchemaBehind names the command).
    engine = engine_from_settings(settings)
    app = FastAPI(
        title="reelflow playback API",
        version="0.1.0",
        description="Catalog, playback sessions, manifests, licenses and studio ingest.",
    )
    app.state.settings = settings
    app.state.engine = engine

    @app.get("/healthz", tags=["operations"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"])
    async def readyz() -> JSONResponse:
        report: dict[str, Any] = await readiness(settings, engine)
        return JSONResponse(report, status_code=200 if report["ready"] else 503)

    return app
