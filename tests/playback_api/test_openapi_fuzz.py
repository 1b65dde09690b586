"""Schemathesis over the API's own OpenAPI document, against a real uvicorn server.

Every operation gets generated requests (valid and invalid by the schema) with an admin
viewer token: none may answer 5xx, and every 4xx must be an RFC 9457 problem body. The
only 5xx allowed is a 503 naming a dependency that is really absent here (Temporal for
/readyz and ingest, a commercial license upstream).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import schemathesis
from hypothesis import HealthCheck, given, settings

from reelflow.catalog.db import upgrade
from reelflow.config import Settings
from reelflow.playback_api.auth.auth import mint_dev_token
from reelflow.playback_api.auth.auth_config import dev_token_secret
from reelflow.playback_api.http.app import create_app
from reelflow.playback_api.http.problems import PROBLEM_MEDIA_TYPE
from tests.fixtures.published import MediaSet, publish_title
from tests.playback_api.conftest import serve
from tests.services import free_port

pytestmark = pytest.mark.slow
DEPENDENCY_DOWN = {"service_unavailable", "license_unavailable"}


@pytest.fixture(scope="module")
def live_api(redis_url: str, media_set: MediaSet, packager_path: str) -> Iterator[dict[str, Any]]:
    redis.Redis.from_url(redis_url).flushdb()
    home = Path(tempfile.mkdtemp(prefix="reelflow-fuzz-"))
    port = free_port()
    config = Settings(
        home=home,
        redis_url=redis_url,
        temporal_address=f"127.0.0.1:{free_port()}",
        api_port=port,
        license_rate_per_minute=100_000,
        playback_starts_per_minute=100_000,  # the fuzzer starts hundreds from one account
    )
    upgrade(config.resolved_database_url)
    app = create_app(config)
    from reelflow.catalog import engine_from_settings
    from reelflow.storage import store_from_settings

    publish_title(
        config,
        engine_from_settings(config),
        store_from_settings(config),
        media_set,
        packager=packager_path,
        title_id="tt-main",
    )
    token = mint_dev_token(
        dev_token_secret(config.secrets().signing_secret),
        sub="fuzzer",
        plan="premium",
        country="US",
        issuer=config.auth_issuer,
        audience=config.auth_audience,
        admin=True,
    )
    with serve(app) as bound:
        assert bound
        yield {"url": f"http://127.0.0.1:{bound}", "token": token}


def _check(case: Any, live_api: dict[str, Any]) -> None:
    response = case.call(
        base_url=live_api["url"],
        headers={"Authorization": f"Bearer {live_api['token']}"},
        timeout=10,
    )
    status = response.status_code
    # schemathesis' Response keeps every header as a list of values.
    content_type = (response.headers.get("content-type") or [""])[0]
    where = (case.method, case.formatted_path, status)
    if status == 503 and case.path == "/readyz":
        assert response.json()["checks"]["temporal"].startswith("error")  # no Temporal here
        return
    if status >= 500:
        body = response.json() if content_type.startswith(PROBLEM_MEDIA_TYPE) else {}
        slug = str(body.get("type", "")).rsplit("/", 1)[-1]
        assert status == 503 and slug in DEPENDENCY_DOWN, (*where, response.text[:300])
    if 400 <= status < 500 and case.method != "HEAD":  # HEAD answers carry no body
        assert content_type.startswith(PROBLEM_MEDIA_TYPE), (*where, content_type)
        assert response.json()["status"] == status, where


def test_no_operation_answers_a_server_error(live_api: dict[str, Any]) -> None:
    schema = schemathesis.openapi.from_url(f"{live_api['url']}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20  # the whole API, not a stray subset

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=40,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def fuzz(case: Any) -> None:
            _check(case, live_api)

        fuzz()
