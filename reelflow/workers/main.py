"""Process entry point for workers: Temporal workers per task queue, and the rq worker.

Heavy ffmpeg/packager work runs on the media queue so encode capacity scales by starting
more `reelflow worker --queue media` processes on more hosts; the control queue carries
the workflows and light catalog/storage activities.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import signal

from temporalio.client import Client
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import Worker

from reelflow.activities.input_cache import InputPinInterceptor
from reelflow.config import ConfigError, Settings

log = logging.getLogger("reelflow.worker")
KNOWN_QUEUES = ("control", "media", "live", "rq")


def build_worker(
    client: Client,
    settings: Settings,
    role: str,
    *,
    task_queue: str | None = None,
    executor: concurrent.futures.Executor | None = None,
) -> Worker:
    """A Temporal worker for `role` ("control", "media" or "live") with its workflows and
    activities. A live worker's activities are channels (async, each a pipeline of its own
    processes): as many at once as REELFLOW_LIVE_MAX_CHANNELS."""
    from reelflow.workers.registry import activities_for, workflows_for

    default_queue = {"control": settings.control_queue, "live": settings.live_queue}
    queue = task_queue or default_queue.get(role, settings.media_queue)
    activities = activities_for(role, settings)
    return Worker(
        client,
        task_queue=queue,
        workflows=workflows_for(role),
        activities=activities,
        activity_executor=executor
        or concurrent.futures.ThreadPoolExecutor(max_workers=8 if role == "control" else 2),
        # Media activities each run a multi-threaded ffmpeg; two at once fill two cores.
        max_concurrent_activities={"control": 8, "live": settings.live_max_channels}.get(role, 2),
        # Releases each activity's pinned cached inputs when it ends (activities.input_cache).
        interceptors=[InputPinInterceptor()],
        identity=settings.worker_identity,  # None: the SDK default, <pid>@<hostname>
    )


def metrics_runtime(settings: Settings) -> Runtime | None:
    """A Temporal runtime serving the SDK's metrics (task slots, poll and activity latency,
    failures) for Prometheus on REELFLOW_WORKER_METRICS_BIND, or None when unset."""
    bind = settings.worker_metrics_bind
    if not bind:
        return None
    host, sep, port = bind.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"REELFLOW_WORKER_METRICS_BIND must be host:port, got {bind!r}")
    return Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=bind)))


async def _run_temporal(settings: Settings, roles: list[str]) -> None:
    from reelflow.workflows.client import connect, register_search_attributes

    client = await connect(settings, runtime=metrics_runtime(settings))
    if settings.env == "embedded":
        # The dev server starts without our custom search attributes; production clusters
        # get them from their operators (docs/operations.md).
        await register_search_attributes(client)
    if "control" in roles:
        # The control workers run the events upkeep; the schedule that starts it hourly is
        # theirs to keep (created if missing, else brought to this code's timing).
        from reelflow.workflows.events_upkeep_schedule import ensure_upkeep_schedule

        created = await ensure_upkeep_schedule(client, settings)
        log.info("events upkeep schedule %s", "created" if created else "up to date")
        from reelflow.workflows.recs_training_schedule import ensure_training_schedule

        created = await ensure_training_schedule(client, settings)
        log.info("recs training schedule %s", "created" if created else "up to date")
    workers = [build_worker(client, settings, role) for role in roles]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with contextlib.AsyncExitStack() as stack:
        for w in workers:
            await stack.enter_async_context(w)
        log.info("workers running on %s", ", ".join(w.task_queue for w in workers))
        await stop.wait()


def run_rq_worker(settings: Settings) -> None:
    from reelflow.jobs.queue import get_worker

    get_worker(settings).work(with_scheduler=True)


def run_workers(settings: Settings, queues: list[str]) -> None:
    unknown = [q for q in queues if q not in KNOWN_QUEUES]
    if unknown:
        raise ValueError(f"unknown queue(s) {unknown}; choose from {', '.join(KNOWN_QUEUES)}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if queues == ["rq"]:
        run_rq_worker(settings)
        return
    if "rq" in queues:
        raise ValueError("run the rq worker in its own process: reelflow worker --queue rq")
    if "control" in queues:
        from reelflow.events.retention import retention_from_settings

        retention_from_settings(settings)  # a bad setting stops the start, not a run at :05
    if "media" in queues:
        from reelflow.packaging.packager_run import sweep_key_files

        if removed := sweep_key_files():
            log.warning("removed %d key flag file(s) a killed packager run left on disk", removed)
    if "live" in queues:
        from reelflow.live.pipeline import sweep_orphans

        if killed := sweep_orphans(settings.home / "live"):
            log.warning("killed %d live pipeline process(es) a killed worker left", killed)
    asyncio.run(_run_temporal(settings, queues))
