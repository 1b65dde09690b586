"""rq job tests: settings in the environment, so ``get_settings()`` in a work horse agrees."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from reelflow.config import Settings, get_settings


@pytest.fixture
def job_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, redis_url: str, catalog_url: str
) -> Iterator[Settings]:
    """Env-configured settings (home, catalog, Redis, a private rq queue), so
    ``get_settings()`` inside the forked job sees the same; tests add their own env first."""
    monkeypatch.setenv("REELFLOW_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("REELFLOW_DATABASE_URL", catalog_url)
    monkeypatch.setenv("REELFLOW_REDIS_URL", redis_url)
    monkeypatch.setenv("REELFLOW_RQ_QUEUE", f"test-{uuid.uuid4().hex[:10]}")
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()
