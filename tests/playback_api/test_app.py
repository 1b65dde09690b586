"""The API process: refuses a stale catalog schema, reports readiness of each dependency."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from reelflow.catalog.db import SchemaBehind, upgrade
from reelflow.config import Settings
from reelflow.playback_api.http.app import create_app
from tests.services import free_port


def test_refuses_to_start_on_a_schema_that_is_behind(tmp_path: Path) -> None:
    with pytest.raises(SchemaBehind, match="reelflow db upgrade"):
        create_app(Settings(home=tmp_path))


def test_health_and_readiness_name_what_is_down(tmp_path: Path, redis_url: str) -> None:
    port = free_port()
    settings = Settings(home=tmp_path, redis_url=redis_url, temporal_address=f"127.0.0.1:{port}")
    upgrade(settings.resolved_database_url)
    # embedded mode answers loopback hosts only (TestClient says "testserver" by default)
    client = TestClient(create_app(settings), base_url="http://127.0.0.1:8000")
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 503
    checks = ready.json()["checks"]
    assert checks["database"] == "ok" and checks["object_store"] == "ok"
    assert checks["redis"] == "ok"
    assert checks["temporal"].startswith("error")
