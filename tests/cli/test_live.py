"""`reelflow live create | status | stop`, run as an operator runs them, against the Temporal
dev server with a real control worker and a real live worker: the channel listens, refuses
a wrong key and says so, goes live under a real SRT encoder, and ends on `stop`, its key
nowhere in the workflow's history."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from reelflow.catalog.db import upgrade
from reelflow.config import Settings
from reelflow.lifecycle.live_channels import channel_workflow_id
from reelflow.workers.main import build_worker
from tests.live.test_pipeline import _push
from tests.services import free_udp_port

REELFLOW = str(Path(sys.executable).parent / "reelflow")


@pytest.fixture
def settings(tmp_path: Path, task_queue: str) -> Settings:
    s = Settings(
        home=tmp_path / "state",
        control_queue=f"{task_queue}-control",
        live_queue=f"{task_queue}-live",
        live_port_first=free_udp_port(),
        live_port_count=1,
    )
    s.ensure_home()
    upgrade(s.resolved_database_url)
    return s


def _cli(settings: Settings, address: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        "REELFLOW_HOME": str(settings.home),
        "REELFLOW_TEMPORAL_ADDRESS": address,
        "REELFLOW_CONTROL_QUEUE": settings.control_queue,
        "REELFLOW_LIVE_QUEUE": settings.live_queue,
        "PATH": "/usr/bin",
    }
    return subprocess.run(
        [REELFLOW, "live", *args], capture_output=True, text=True, env=env, timeout=180
    )


async def _until(check: Callable[[], bool], timeout_s: float) -> None:
    """Poll ``check`` off the event loop: the CLI it runs queries the workflow, which the
    workers on this loop must answer."""
    deadline = time.monotonic() + timeout_s
    while not await asyncio.to_thread(check):
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.5)


def test_bad_channels_are_refused_before_anything_starts(settings: Settings) -> None:
    for args, words in (
        (["--id", "Bad Id", "--name", "N"], "title id"),
        (["--id", "news", "--name", "N", "--rungs", "100"], "rung heights"),
        (["--id", "news", "--name", "N", "--rungs", "x"], "rungs must be heights"),
        (["--id", "news", "--name", "N", "--dvr", "5"], "DVR window"),
        (["--id", "news", "--name", "N", "--latency", "warp"], "latency"),
    ):
        done = _cli(settings, "127.0.0.1:1", "create", *args)
        assert done.returncode == 2 and words in done.stderr, (args, done.stderr)


async def test_a_channel_listens_goes_live_and_ends_on_stop(
    temporal_env: WorkflowEnvironment, settings: Settings
) -> None:
    address = temporal_env.client.service_client.config.target_host
    ffmpeg = settings.binary("ffmpeg")
    async with (
        build_worker(temporal_env.client, settings, "control"),
        build_worker(temporal_env.client, settings, "live"),
    ):
        made = await asyncio.to_thread(
            _cli, settings, address, "create", "--id", "news", "--name", "News",
            "--rungs", "144", "--reconnect", "60", "--json",
        )  # fmt: skip
        assert made.returncode == 0, made.stderr
        doc = json.loads(made.stdout)
        port = settings.live_port_first
        assert doc["state"] == "idle" and doc["listening"] is True
        assert doc["srt_url"].startswith(f"srt://127.0.0.1:{port}?mode=caller")
        key = doc["stream_key"]
        assert len(key) == 32

        listed = json.loads(
            (await asyncio.to_thread(_cli, settings, address, "list", "--json")).stdout
        )
        assert listed == [{"id": "news", "name": "News", "rung_heights": [144], "dvr_s": 7200,
                           "latency": "low", "drm": False, "reconnect_window_s": 60}]  # fmt: skip
        again = await asyncio.to_thread(
            _cli, settings, address, "create", "--id", "news", "--name", "N"
        )
        assert again.returncode == 2 and "already a title or a channel" in again.stderr

        def status() -> dict[str, object]:
            out = _cli(settings, address, "status", "news", "--json")
            assert out.returncode == 0, out.stderr
            return dict(json.loads(out.stdout))

        assert await asyncio.to_thread(_push, ffmpeg, port, "not-the-key-at-all", 2) != 0
        await _until(lambda: bool(status()["last_refusal"]), 60)
        refusal = (await asyncio.to_thread(status))["last_refusal"]
        assert "wrong stream key" in str(refusal)

        pushing = asyncio.create_task(asyncio.to_thread(_push, ffmpeg, port, key, 8))
        await _until(lambda: status()["state"] == "live", 60)
        assert await pushing == 0
        await _until(lambda: status()["state"] == "reconnecting", 60)

        stopped = await asyncio.to_thread(_cli, settings, address, "stop", "news")
        assert stopped.returncode == 0, stopped.stderr
        final = json.loads(stopped.stdout)
        assert final["state"] == "ended" and final["reason"] == "stopped"
        assert final["connections"] == 1
        # The 8 s contribution and the slate around it were recorded and remuxed per rung.
        assert final["recorded_s"] > 8
        assert (settings.home / "live" / "news" / "vod").is_dir()

    history = await temporal_env.client.get_workflow_handle(
        channel_workflow_id("news")
    ).fetch_history()
    assert key not in json.dumps(history.to_json_dict())
    live_left = subprocess.run(
        ["pgrep", "-f", str(settings.home / "live" / "news")], capture_output=True
    )
    assert live_left.returncode == 1, "a pipeline process outlived the channel"
