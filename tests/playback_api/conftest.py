"""The real API app over a real catalog (SQLite, or PostgreSQL), real Redis and real packages."""

from __future__ import annotations

import http.client
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from reelflow.catalog import engine_from_settings
from reelflow.catalog.db import upgrade
from reelflow.config import Settings
from reelflow.playback_api.auth.auth import Plan, mint_dev_token
from reelflow.playback_api.auth.auth_config import dev_token_secret
from reelflow.playback_api.http.app import create_app
from reelflow.storage import LocalStore
from tests.fixtures.published import MediaSet, PublishedTitle, publish_title
from tests.services import free_port, serve_app


@dataclass
class ApiHarness:
    """One app instance with its catalog, store and a TestClient (lifespan running)."""

    settings: Settings
    engine: Engine
    store: LocalStore
    client: TestClient
    media: MediaSet
    packager: str
    published: dict[str, PublishedTitle] = field(default_factory=dict)

    def publish(self, title_id: str, **kwargs: Any) -> PublishedTitle:
        title = publish_title(
            self.settings,
            self.engine,
            self.store,
            self.media,
            packager=self.packager,
            title_id=title_id,
            **kwargs,
        )
        self.published[title_id] = title
        self.client.app.state.ctx.titles.invalidate()  # type: ignore[attr-defined]
        return title

    def token(
        self,
        *,
        plan: Plan = "premium",
        country: str = "US",
        sub: str | None = None,
        admin: bool = False,
        ttl_s: int = 3600,
    ) -> str:
        return mint_dev_token(
            dev_token_secret(self.settings.secrets().signing_secret),
            sub=sub or f"acct-{uuid.uuid4().hex[:8]}",
            plan=plan,
            country=country,
            issuer=self.settings.auth_issuer,
            audience=self.settings.auth_audience,
            admin=admin,
            ttl_s=ttl_s,
        )

    def auth(self, **kwargs: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(**kwargs)}"}

    def start_playback(
        self,
        title_id: str,
        headers: dict[str, str],
        *,
        device_id: str = "device-1",
        drm: tuple[str, ...] = ("clearkey",),
        protocols: tuple[str, ...] = ("dash", "hls"),
    ) -> Any:
        return self.client.post(
            f"/v1/titles/{title_id}/playback",
            json={"device_id": device_id, "drm": list(drm), "protocols": list(protocols)},
            headers=headers,
        )


def _harness(
    tmp_path: Path,
    redis_url: str,
    database_url: str,
    media: MediaSet,
    packager: str,
    *,
    flush_redis: bool = True,
    **extra: Any,
) -> Iterator[ApiHarness]:
    if flush_redis:
        redis.Redis.from_url(redis_url).flushdb()
    settings = Settings(
        home=tmp_path / "state",
        database_url=database_url,
        redis_url=redis_url,
        # Unreachable unless a test brings a Temporal server: /readyz reports it.
        temporal_address=f"127.0.0.1:{free_port()}",
        **extra,
    )
    settings.ensure_home()
    upgrade(database_url)
    engine = engine_from_settings(settings)
    store = LocalStore(settings.resolved_store_root)
    app = create_app(settings)
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        yield ApiHarness(settings, engine, store, client, media, packager)


@pytest.fixture
def api(
    tmp_path: Path, redis_url: str, media_set: MediaSet, packager_path: str
) -> Iterator[ApiHarness]:
    """The app on a fresh SQLite catalog."""
    yield from _harness(
        tmp_path, redis_url, f"sqlite:///{tmp_path / 'catalog.db'}", media_set, packager_path
    )


@pytest.fixture
def api_any_db(
    tmp_path: Path, redis_url: str, catalog_url: str, media_set: MediaSet, packager_path: str
) -> Iterator[ApiHarness]:
    """The app on SQLite and on a real PostgreSQL server (parametrized via catalog_url)."""
    yield from _harness(tmp_path, redis_url, catalog_url, media_set, packager_path)


@contextmanager
def serve(app: Any) -> Iterator[int]:
    """Run an ASGI app under a real uvicorn server on a loopback port; yields the port."""
    with serve_app(app) as port:
        yield port


def raw_get(port: int, target: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """GET with the request target sent byte for byte (no client-side normalisation)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", target, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


OpenApi = Callable[..., ApiHarness]


@pytest.fixture
def open_api(
    tmp_path: Path, redis_url: str, media_set: MediaSet, packager_path: str
) -> Iterator[OpenApi]:
    """Opens the real app with extra settings (once per test); closed at teardown."""
    with ExitStack() as stack:

        def open_(**settings: Any) -> ApiHarness:
            harness = contextmanager(_harness)(
                tmp_path,
                redis_url,
                f"sqlite:///{tmp_path / 'catalog.db'}",
                media_set,
                packager_path,
                **settings,
            )
            return stack.enter_context(harness)

        yield open_
