"""Re-delivery without a gap, end to end: real Temporal dev server, real ffmpeg and Shaka
Packager, the real catalog, the real playback API (TestClient over create_app) on real Redis.

While a new version is processed, held at its gate, rejected or failed QC, viewers keep
playing the live version with its own availability; when the new version publishes,
playback moves to its package and window, and the old origin copy is gone.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from reelflow.catalog import engine_from_settings
from reelflow.catalog import packages as catalog_packages
from reelflow.catalog import titles as q
from reelflow.config import Settings
from reelflow.lifecycle import contracts as c
from reelflow.playback_api.auth.auth import mint_dev_token
from reelflow.playback_api.auth.auth_config import dev_token_secret
from reelflow.playback_api.http.app import create_app
from reelflow.storage import store_from_settings
from reelflow.workflows.title import TitleWorkflow
from tests.catalog.test_titles import version_states
from tests.fixtures.catalog_reads import catalog_shows_published
from tests.services import free_port
from tests.workflows.conftest import make_clip, running_workers
from tests.workflows.test_title_lifecycle_dev_server import _start, _wait_state

pytestmark = pytest.mark.slow


def _play(api: TestClient, settings: Settings, title_id: str, country: str) -> Any:
    """A fresh viewer starts playback and fetches the DASH manifest it is given."""
    token = mint_dev_token(
        dev_token_secret(settings.secrets().signing_secret),
        sub=f"acct-{uuid.uuid4().hex[:8]}",
        plan="premium",
        country=country,
        issuer=settings.auth_issuer,
        audience=settings.auth_audience,
    )
    api.app.state.ctx.titles.invalidate()  # type: ignore[attr-defined]  # no 2 s wait
    start = api.post(
        f"/v1/titles/{title_id}/playback",
        json={"device_id": "tv-1", "drm": ["clearkey"], "protocols": ["dash", "hls"]},
        headers={"Authorization": f"Bearer {token}"},
    )
    if start.status_code != 201:
        return start.status_code, start.json()
    body = start.json()
    manifest = api.get(body["manifests"]["dash"].removeprefix("http://127.0.0.1:8000"))
    assert manifest.status_code == 200, manifest.text
    assert "<MPD" in manifest.text
    listed = api.get("/v1/titles", headers={"Authorization": f"Bearer {token}"}).json()
    assert title_id in [item["id"] for item in listed["items"]]
    return 201, body


async def _published(handle: WorkflowHandle, engine: Engine, title_id: str, version: int) -> None:
    assert (await _wait_state(handle, {"published", "failed"}, 180)).state == "published"
    await catalog_shows_published(engine, title_id, version)


def _version_of(body: dict[str, Any]) -> str:
    """The package version in the signed media prefix (``.../<title>/v<N>/...``)."""
    parts = body["media_prefix"].split("/")
    return next(p for p in parts if p.startswith("v") and p[1:].isdigit())


async def test_live_version_plays_through_a_redelivery(
    temporal_env: WorkflowEnvironment,
    lifecycle_settings: Settings,
    redis_url: str,
    tmp_path: Path,
) -> None:
    settings = lifecycle_settings
    title_id = f"redeliver-{uuid.uuid4().hex[:8]}"
    engine = engine_from_settings(settings)
    store = store_from_settings(settings)
    api_settings = settings.model_copy(
        update={"redis_url": redis_url, "temporal_address": f"127.0.0.1:{free_port()}"}
    )

    def inp(version: int, source: Path, regions: list[str], **options: Any) -> c.TitleInput:
        return c.TitleInput(
            title_id=title_id,
            source=str(source),
            name="Redelivered",
            version=version,
            options=c.TitleOptions(ladder="fixed", **options),
            availability=c.AvailabilitySpec(regions=regions),
        )

    async with running_workers(temporal_env.client, settings):
        with TestClient(create_app(api_settings), base_url="http://127.0.0.1:8000") as api:
            # v1: live for US viewers.
            v1_clip = make_clip(tmp_path / "v1.mp4", seconds=2)
            h1 = await _start(temporal_env.client, settings, inp(1, v1_clip, ["US"]))
            await _published(h1, engine, title_id, 1)
            status, body = _play(api, api_settings, title_id, "US")
            assert status == 201 and _version_of(body) == "v1"

            # v2 (another window: CA only) held at its gate: v1 still plays for US.
            v2_clip = make_clip(tmp_path / "v2.mp4", seconds=3)
            h2: WorkflowHandle = await _start(
                temporal_env.client,
                settings,
                inp(2, v2_clip, ["CA"], require_approval=True),
            )
            await _wait_for(h2, "awaiting_approval")
            status, body = _play(api, api_settings, title_id, "US")
            assert status == 201 and _version_of(body) == "v1", body
            refused = _play(api, api_settings, title_id, "CA")  # v1's regions: US only
            assert refused[0] == 403, refused
            assert q.get_title(engine, title_id).state == "published"

            # ... rejected: v1 untouched.
            await h2.signal(TitleWorkflow.reject, "wrong cut")
            assert (await h2.result()).state == "rejected"
            status, body = _play(api, api_settings, title_id, "US")
            assert status == 201 and _version_of(body) == "v1"

            # v3 is garbage and fails QC: v1 untouched.
            garbage = tmp_path / "v3.mp4"
            garbage.write_text("this is not a movie\n" * 100)
            h3 = await _start(temporal_env.client, settings, inp(3, garbage, ["CA"]))
            assert (await h3.result()).state == "qc_failed"
            status, body = _play(api, api_settings, title_id, "US")
            assert status == 201 and _version_of(body) == "v1"
            assert version_states(engine, title_id) == {
                1: "published",
                2: "rejected",
                3: "qc_failed",
            }

            # v4 publishes (CA and US): players move to it, v1 retires.
            h4 = await _start(temporal_env.client, settings, inp(4, v2_clip, ["CA", "US"]))
            await _published(h4, engine, title_id, 4)
            assert (await h1.result()).state == "superseded"
            for country in ("CA", "US"):
                status, body = _play(api, api_settings, title_id, country)
                assert status == 201 and _version_of(body) == "v4", body
            v1_pkg, v4_pkg = (catalog_packages.get_package(engine, title_id, v) for v in (1, 4))
            assert v1_pkg is not None and v1_pkg.removed_at is not None
            assert not list(store.list(v1_pkg.origin_prefix + "/"))
            assert v4_pkg is not None and v4_pkg.mpd_key and store.exists(v4_pkg.mpd_key)
            assert version_states(engine, title_id)[1] == "superseded"

            # v4 taken down with purge_on_expire off: v1's masters were never touched.
            await h4.signal(TitleWorkflow.takedown, "test done")
            assert (await h4.result()).state == "taken_down"
            assert _play(api, api_settings, title_id, "US")[0] == 404


async def _wait_for(handle: WorkflowHandle, state: str, timeout_s: float = 180) -> None:
    import asyncio

    for _ in range(int(timeout_s * 10)):
        status: c.TitleStatus = await handle.query(TitleWorkflow.status)
        if status.state == state:
            return
        assert status.state not in ("failed", "qc_failed", "rejected"), status
        await asyncio.sleep(0.1)
    raise AssertionError(f"never reached {state}")
