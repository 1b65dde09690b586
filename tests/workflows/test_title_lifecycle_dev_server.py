"""TitleWorkflow end to end on the real Temporal dev server with real ffmpeg."""

from __future__ import annotations

import asyncio
import base64
import logging
import uuid
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from reelflow.catalog import engine_from_settings
from reelflow.catalog import packages as catalog_packages
from reelflow.catalog import titles as q
from reelflow.config import Settings
from reelflow.domain.ids import workflow_id
from reelflow.lifecycle import contracts as c
from reelflow.storage import store_from_settings
from reelflow.workflows.title import TitleWorkflow
from tests.fixtures import catalog_reads as reads
from tests.workflows.conftest import make_clip, running_workers

pytestmark = pytest.mark.slow


async def _start(client: Client, settings: Settings, inp: c.TitleInput) -> WorkflowHandle:
    inp.media_queue = settings.media_queue
    return await client.start_workflow(
        TitleWorkflow.run,
        inp,
        id=workflow_id(inp.title_id, inp.version),
        task_queue=settings.control_queue,
    )


async def _approve_when_waiting(handle: WorkflowHandle) -> None:
    for _ in range(600):
        status: c.TitleStatus = await handle.query(TitleWorkflow.status)
        if status.state == "awaiting_approval":
            await handle.signal(TitleWorkflow.approve, "test-ops")
            return
        if status.state not in ("ingesting", "qc"):
            return
        await asyncio.sleep(0.1)


async def _wait_state(
    handle: WorkflowHandle, states: set[str], timeout_s: float = 300
) -> c.TitleStatus:
    for _ in range(int(timeout_s * 10)):
        status: c.TitleStatus = await handle.query(TitleWorkflow.status)
        if status.state in states:
            return status
        if status.state == "awaiting_approval":
            await handle.signal(TitleWorkflow.approve, "test-ops")
        await asyncio.sleep(0.1)
    raise AssertionError(f"title never reached {states}")


async def test_clip_is_published_protected_and_taken_down(
    temporal_env: WorkflowEnvironment,
    lifecycle_settings: Settings,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    settings = lifecycle_settings
    clip = make_clip(tmp_path / "master.mp4", seconds=4)
    subs = tmp_path / "en.srt"
    subs.write_text(
        "1\n00:00:00,500 --> 00:00:02,000\nHello\n\n2\n00:00:02,500 --> 00:00:03,500\nBye\n"
    )
    title_id = f"e2e-{uuid.uuid4().hex[:8]}"
    client = temporal_env.client
    async with running_workers(client, settings):
        handle = await _start(
            client,
            settings,
            c.TitleInput(
                title_id=title_id,
                source=str(clip),
                name="E2E clip",
                options=c.TitleOptions(ladder="fixed"),
                subtitles=[c.SubtitleSource("en", str(subs))],
            ),
        )
        status = await _wait_state(handle, {"published", "failed", "qc_failed"})
        assert status.state == "published", status
        engine = engine_from_settings(settings)
        store = store_from_settings(settings)
        pkg = catalog_packages.get_package(engine, title_id, 1)
        assert pkg is not None and pkg.encrypted
        # The catalog knows the title's length (players show it and resume against it).
        duration = q.get_title(engine, title_id).duration_s
        assert duration is not None and abs(duration - 4.0) < 0.2
        # Artwork travels with the package and is recorded for the catalog.
        assert pkg.artwork["poster"] and pkg.artwork["thumbnails"]
        assert all(store.exists(f"{pkg.origin_prefix}/{a}") for a in pkg.artwork["poster"])
        assert {"widevine", "playready", "clearkey", "fairplay"} <= set(pkg.drm_systems)
        assert pkg.mpd_key and store.exists(pkg.mpd_key)
        mpd = store.get_bytes(pkg.mpd_key).decode()
        assert 'type="static"' in mpd
        for system_id in (
            "edef8ba9-79d6-4ace-a3c8-27dcd51d21ed",
            "9a04f079-9840-4286-ab92-e65be0885f95",
            "1077efec-c0b2-4d02-ace3-3c1e52e2fb4b",
        ):
            assert system_id in mpd.lower()
        playlists = [o.key for o in store.list(pkg.origin_prefix + "/") if o.key.endswith(".m3u8")]
        assert any(
            "com.apple.streamingkeydelivery" in store.get_bytes(k).decode() for k in playlists
        )
        # Take it down: origin emptied, keys revoked, the workflow ends.
        await handle.signal(TitleWorkflow.takedown, "test takedown")
        status = await handle.result()
    assert status.state == "taken_down", status
    assert status.errors == []
    assert not list(store.list(pkg.origin_prefix + "/"))
    keys = reads.content_keys_for(engine, title_id, 1)
    assert keys and all(k.revoked for k in keys)
    videos = [r for r in status.renditions if r.kind == "video"]
    assert videos and max(v.height or 0 for v in videos) <= 270
    assert {r.kind for r in status.renditions} == {"video", "audio", "subtitle"}
    events = [e.event for e in reads.events_for(engine, title_id)]
    assert events[0] == "ingest_started" and "ingested" in events and "published" in events
    assert events[-1] == "taken_down"
    assert len(events) == len(set(events)), "each transition recorded once"

    # No clear key may appear in the workflow history or in any log line.
    from reelflow.activities.deps import Deps
    from reelflow.activities.packaging_activities import load_keys

    clear = load_keys(Deps.from_settings(settings), title_id, {k.track_class: k.kid for k in keys})
    history = (await handle.fetch_history()).to_json()
    logs = "\n".join(r.getMessage() for r in caplog.records)
    for key in clear.values():
        for form in (
            key.key.hex(),
            key.key.hex().upper(),
            base64.b64encode(key.key).decode(),
            base64.urlsafe_b64encode(key.key).decode().rstrip("="),
        ):
            assert form not in history, "clear key in workflow history"
            assert form not in logs, "clear key in logs"


async def test_duplicate_start_is_rejected_not_a_second_run(
    temporal_env: WorkflowEnvironment, lifecycle_settings: Settings, tmp_path: Path
) -> None:
    from temporalio.exceptions import WorkflowAlreadyStartedError

    settings = lifecycle_settings
    clip = make_clip(tmp_path / "master.mp4", seconds=2)
    inp = c.TitleInput(
        title_id=f"dup-{uuid.uuid4().hex[:8]}",
        source=str(clip),
        name="Dup",
        options=c.TitleOptions(ladder="fixed", require_approval=True),
    )
    client = temporal_env.client
    handle = await _start(client, settings, inp)
    with pytest.raises(WorkflowAlreadyStartedError):
        await _start(client, settings, inp)
    await handle.terminate("test done")


async def test_garbage_master_ends_in_qc_failed(
    temporal_env: WorkflowEnvironment, lifecycle_settings: Settings, tmp_path: Path
) -> None:
    settings = lifecycle_settings
    bogus = tmp_path / "movie.mp4"
    bogus.write_text("this is not a movie\n" * 100)
    title_id = f"bad-{uuid.uuid4().hex[:8]}"
    async with running_workers(temporal_env.client, settings):
        handle = await _start(
            temporal_env.client,
            settings,
            c.TitleInput(title_id=title_id, source=str(bogus), name="Bad"),
        )
        status: c.TitleStatus = await handle.result()
    assert status.state == "qc_failed"
    assert status.qc_failures and status.qc_failures[0].startswith("probe")
    assert [s.state for s in status.stages if s.name == "encode"] == ["skipped"]
    assert not list(store_from_settings(settings).list(f"renditions/{title_id}/"))


async def test_missing_source_fails_without_retrying(
    temporal_env: WorkflowEnvironment, lifecycle_settings: Settings, tmp_path: Path
) -> None:
    settings = lifecycle_settings
    title_id = f"nosrc-{uuid.uuid4().hex[:8]}"
    async with running_workers(temporal_env.client, settings):
        handle = await _start(
            temporal_env.client,
            settings,
            c.TitleInput(title_id=title_id, source=str(tmp_path / "nope.mp4"), name="Missing"),
        )
        # The run itself fails (Failed in the UI, ReelflowState="failed"); its status stays.
        with pytest.raises(WorkflowFailureError):
            await handle.result()
        status: c.TitleStatus = await handle.query(TitleWorkflow.status)
    assert status.state == "failed"
    assert any("no such file" in e for e in status.errors), status.errors


async def test_short_window_opens_and_expires_by_itself(
    temporal_env: WorkflowEnvironment, lifecycle_settings: Settings, tmp_path: Path
) -> None:
    from datetime import UTC, datetime, timedelta

    settings = lifecycle_settings
    clip = make_clip(tmp_path / "master.mp4", seconds=2)
    now = datetime.now(UTC)
    start, end = now + timedelta(seconds=12), now + timedelta(seconds=24)
    title_id = f"win-{uuid.uuid4().hex[:8]}"
    async with running_workers(temporal_env.client, settings):
        handle = await _start(
            temporal_env.client,
            settings,
            c.TitleInput(
                title_id=title_id,
                source=str(clip),
                name="Short window",
                # Published clear by option: no keys, no DRM signalling.
                options=c.TitleOptions(ladder="fixed", drm=False),
                availability=c.AvailabilitySpec(start.isoformat(), end.isoformat(), ["US"]),
            ),
        )
        status = await _wait_state(handle, {"published", "failed"}, timeout_s=120)
        assert status.state == "published", status
        engine = engine_from_settings(settings)
        avail = reads.get_availability(engine, title_id)
        assert avail is not None and avail.regions == ["US"]
        status = await handle.result()
    assert status.state == "expired", status
    events = [e.event for e in reads.events_for(engine, title_id)]
    published, opened, expired = (
        events.index(x) for x in ("published", "window_opened", "expired")
    )
    assert published < opened < expired
    from reelflow.catalog.models import as_utc

    expired_at = as_utc(
        next(e.at for e in reads.events_for(engine, title_id) if e.event == "expired")
    )
    assert expired_at is not None and expired_at >= end
    pkg = catalog_packages.get_package(engine, title_id, 1)
    assert pkg is not None and pkg.removed_at is not None
    assert not pkg.encrypted and pkg.drm_systems == [] and pkg.kids == {}
    assert reads.content_keys_for(engine, title_id, 1) == []
    assert not list(store_from_settings(settings).list(pkg.origin_prefix + "/"))


async def test_new_version_replaces_the_old_without_a_gap(
    temporal_env: WorkflowEnvironment, lifecycle_settings: Settings, tmp_path: Path
) -> None:
    settings = lifecycle_settings
    title_id = f"ver-{uuid.uuid4().hex[:8]}"
    engine = engine_from_settings(settings)
    store = store_from_settings(settings)
    async with running_workers(temporal_env.client, settings):
        handles = []
        for version, seconds in ((1, 2), (2, 3)):
            clip = make_clip(tmp_path / f"master-v{version}.mp4", seconds=seconds)
            handle = await _start(
                temporal_env.client,
                settings,
                c.TitleInput(
                    title_id=title_id,
                    source=str(clip),
                    name="Versioned",
                    version=version,
                    options=c.TitleOptions(ladder="fixed"),
                ),
            )
            status = await _wait_state(handle, {"published", "failed"}, timeout_s=120)
            assert status.state == "published", status
            handles.append(handle)
        old: c.TitleStatus = await handles[0].result()
        assert old.state == "superseded", old
        v1, v2 = (
            catalog_packages.get_package(engine, title_id, 1),
            catalog_packages.get_package(engine, title_id, 2),
        )
        assert v1 is not None and v1.removed_at is not None
        assert v2 is not None and v2.removed_at is None
        assert not list(store.list(v1.origin_prefix + "/"))
        assert v2.mpd_key and store.exists(v2.mpd_key)
        assert q.get_title(engine, title_id).state == "published"
        assert q.get_title(engine, title_id).version == 2
        assert all(k.revoked for k in reads.content_keys_for(engine, title_id, 1))
        assert not any(k.revoked for k in reads.content_keys_for(engine, title_id, 2))
        await handles[1].signal(TitleWorkflow.takedown, "test done")
        assert (await handles[1].result()).state == "taken_down"
