"""`reelflow titles approve|reject|takedown|window` reach the title's workflow as typed
signals: run as a user runs them, against the real Temporal dev server, received by a
workflow that records what arrives under TitleWorkflow's signal names."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from pathlib import Path

from temporalio import workflow
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

REELFLOW = str(Path(sys.executable).parent / "reelflow")


@workflow.defn(name="SignalRecorder")
class SignalRecorder:
    """Receives TitleWorkflow's signals by name and answers what it got."""

    def __init__(self) -> None:
        self.got: list[list[str | None]] = []

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: len(self.got) >= 4)

    @workflow.signal
    def approve(self, actor: str) -> None:
        self.got.append(["approve", actor])

    @workflow.signal
    def reject(self, reason: str) -> None:
        self.got.append(["reject", reason])

    @workflow.signal
    def takedown(self, reason: str) -> None:
        self.got.append(["takedown", reason])

    @workflow.signal
    def update_window(self, start: str | None, end: str | None) -> None:
        self.got.append(["update_window", start, end])

    @workflow.query
    def received(self) -> list[list[str | None]]:
        return self.got


async def _cli(
    home: Path, address: str, *args: str, **extra_env: str
) -> subprocess.CompletedProcess[str]:
    env = {
        "REELFLOW_HOME": str(home),
        "REELFLOW_TEMPORAL_ADDRESS": address,
        "PATH": "/usr/bin",
        **extra_env,
    }
    return await asyncio.to_thread(
        subprocess.run,
        [REELFLOW, "titles", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


async def test_cli_signals_arrive_typed(temporal_env: WorkflowEnvironment, tmp_path: Path) -> None:
    title = f"sig-{uuid.uuid4().hex[:8]}"
    queue = f"test-{uuid.uuid4().hex[:8]}"
    address = temporal_env.client.service_client.config.target_host
    async with Worker(temporal_env.client, task_queue=queue, workflows=[SignalRecorder]):
        handle = await temporal_env.client.start_workflow(
            SignalRecorder.run, id=f"title-{title}", task_queue=queue
        )
        for args in (
            ("approve", title, "--actor", "alice"),
            ("reject", title, "--reason", "bad cut"),
            ("takedown", title, "--reason", "legal"),
            ("window", title, "--end", "2030-01-01T00:00:00+00:00"),
        ):
            r = await _cli(tmp_path, address, *args)
            assert r.returncode == 0, r.stdout + r.stderr
            assert f"to title-{title}" in r.stdout
        await handle.result()
        got = await handle.query(SignalRecorder.received)
    assert got == [
        ["approve", "alice"],
        ["reject", "bad cut"],
        ["takedown", "legal"],
        ["update_window", None, "2030-01-01T00:00:00+00:00"],
    ]


async def test_cli_signal_to_unknown_title_fails(
    temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    address = temporal_env.client.service_client.config.target_host
    r = await _cli(tmp_path, address, "approve", f"nope-{uuid.uuid4().hex[:8]}")
    assert r.returncode != 0
    assert "unknown title" in (r.stdout + r.stderr)


@workflow.defn(name="TakedownRecorder")
class TakedownRecorder:
    """A version's run waiting on its window: ends when it is taken down."""

    def __init__(self) -> None:
        self.reason: str | None = None

    @workflow.run
    async def run(self) -> str:
        await workflow.wait_condition(lambda: self.reason is not None)
        return self.reason or ""

    @workflow.signal
    def takedown(self, reason: str) -> None:
        self.reason = reason


async def test_takedown_stops_the_live_version_and_its_redelivery(
    temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """v1 is live and v2 (a re-delivery) is still running: takedown must stop both, since
    players keep watching v1 until v2 publishes."""
    from reelflow.catalog.db import make_engine, upgrade
    from reelflow.catalog.titles import upsert_title

    title = f"td-{uuid.uuid4().hex[:8]}"
    queue = f"test-{uuid.uuid4().hex[:8]}"
    address = temporal_env.client.service_client.config.target_host
    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    upgrade(url)
    upsert_title(make_engine(url), title_id=title, name="Two versions", version=2)
    async with Worker(temporal_env.client, task_queue=queue, workflows=[TakedownRecorder]):
        v1 = await temporal_env.client.start_workflow(
            TakedownRecorder.run, id=f"title-{title}", task_queue=queue
        )
        v2 = await temporal_env.client.start_workflow(
            TakedownRecorder.run, id=f"title-{title}@v2", task_queue=queue
        )
        env = {"REELFLOW_DATABASE_URL": url}
        r = await _cli(tmp_path, address, "takedown", title, "--reason", "legal", **env)
        assert r.returncode == 0, r.stdout + r.stderr
        assert await v1.result() == "legal" and await v2.result() == "legal"
    assert f"title-{title}@v2" in r.stdout and f"title-{title}\n" in r.stdout + "\n"
