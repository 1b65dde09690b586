"""Fixtures for lifecycle tests: a migrated catalog, workers on unique task queues."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.worker import Worker

from reelflow.catalog.db import upgrade
from reelflow.config import Settings
from reelflow.media.samples import make_test_title
from reelflow.workers.main import build_worker


@pytest.fixture
def lifecycle_settings(tmp_path: Path, task_queue: str) -> Settings:
    s = Settings(
        home=tmp_path / "state",
        control_queue=f"{task_queue}-control",
        media_queue=f"{task_queue}-media",
    )
    s.ensure_home()
    upgrade(s.resolved_database_url)
    return s


@asynccontextmanager
async def running_workers(client: Client, settings: Settings) -> AsyncIterator[list[Worker]]:
    workers = [build_worker(client, settings, role) for role in ("control", "media")]
    async with AsyncExitStack() as stack:
        for w in workers:
            await stack.enter_async_context(w)
        yield workers


def make_clip(
    path: Path,
    *,
    seconds: float = 4,
    size: str = "480x270",
    rate: int = 24,
    audio: bool = True,
    volume_db: float = -10.0,
) -> Path:
    """A lavfi test title: moving picture and a tone (at -10 dB it reads about -32 LUFS,
    so QC warns on loudness and the gate waits for approval)."""
    return make_test_title(
        path,
        ffmpeg="ffmpeg",
        seconds=seconds,
        size=size,
        rate=rate,
        tone="frequency=440" if audio else None,
        audio_filter=f"volume={volume_db}dB",
        video_args=("-preset", "ultrafast"),
    )
