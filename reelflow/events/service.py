"""The events parts built from one Settings: the log, the files, the pseudonym key, and the
operations the CLI and the API run on them (stats, the writer loop, erasure, export)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import FrameType

import redis
from sqlalchemy.engine import Engine

from reelflow.catalog import viewer_privacy
from reelflow.catalog.models import ErasureAudit
from reelflow.config import Settings
from reelflow.events import maintenance, queries, upkeep
from reelflow.events.log import RedisStreamLog
from reelflow.events.metrics import WriterMetrics, parse_bind
from reelflow.events.pseudonym import pseudonym_key, viewer_pseudonym
from reelflow.events.retention import Retention
from reelflow.events.writer import CLAIM_IDLE_MS, EventWriter, WriterCounts
from reelflow.storage import store_from_settings
from reelflow.storage.base import ObjectStore

ERASURE_LOCK = "reelflow:events:erasure-lock"
# Longer than any erasure should take (it reads every event file once); a crashed erasure's
# lock lapses after it.
ERASURE_LOCK_S = 30 * 60
# How long an erasure waits for a writer to write what it holds in hand (a batch takes well
# under a second; a dead writer's never comes).
IN_HAND_WAIT_S = 30.0
ERASURE_WAIT_S = 10.0  # for a running erasure to finish before this one gives up


def upkeep_lock(client: redis.Redis) -> AbstractContextManager[object]:
    """The erasures' lock, held by upkeep around each partition it rewrites or deletes
    (``events.upkeep``): a compaction that read a file an erasure then rewrote would write
    the erased rows back into the compacted file. Waits for a running erasure."""
    return client.lock(ERASURE_LOCK, timeout=ERASURE_LOCK_S, blocking_timeout=ERASURE_LOCK_S)


class ErasureBusy(RuntimeError):
    """Another erasure holds the lock."""


class ErasureFailed(RuntimeError):
    """An erasure stopped; ``record`` is its audit row (``failed``, with the reason)."""

    def __init__(self, record: ErasureAudit) -> None:
        super().__init__(f"erasure {record.id} of the account failed: {record.reason}")
        self.record = record


@dataclass(frozen=True)
class Events:
    log: RedisStreamLog
    store: ObjectStore
    files: queries.EventFiles
    key: bytes
    claim_idle_ms: int = CLAIM_IDLE_MS  # the writer's: REELFLOW_EVENTS_CLAIM_IDLE_MS
    metrics_bind: str | None = None  # the writer's /metrics: REELFLOW_EVENTS_METRICS_BIND

    @classmethod
    def from_settings(cls, settings: Settings) -> Events:
        client = redis.Redis.from_url(settings.redis_url)
        return cls(
            log=RedisStreamLog(client),
            store=store_from_settings(settings),
            files=queries.EventFiles.from_settings(settings),
            key=pseudonym_key(settings.secrets().signing_secret),
            claim_idle_ms=settings.events_claim_idle_ms,
            metrics_bind=_checked_bind(settings.events_metrics_bind),
        )

    def viewer(self, account: str) -> str:
        return viewer_pseudonym(self.key, account)

    def stats(self) -> dict[str, int]:
        """Distinct events per type, and ``backlog``: entries not yet written to Parquet."""
        return {**queries.distinct_counts(self.files), "backlog": self.log.backlog()}

    def export(self, account: str) -> list[dict[str, object]]:
        return queries.viewer_events(self.files, self.viewer(account))

    def history(self, account: str) -> list[queries.Watched]:
        return queries.watch_history(self.files, self.viewer(account))

    def erase(
        self,
        account: str,
        *,
        actor: str,
        catalog: Engine,
        wait_s: float = ERASURE_WAIT_S,
        derived_prefixes: Sequence[str] = (),
    ) -> ErasureAudit:
        """Remove the account's events from the stream first, then from the files, recorded
        in the catalog's erasure audit log: a ``started`` row before anything is removed
        (so a crash mid-erasure shows), closed ``done`` with the counts or ``failed`` with
        the reason and what was removed by then (``ErasureFailed`` carries that row).

        One erasure at a time across every process (a Redis lock): two rewriting the same
        file at once would each write back the rows the other removed.

        ``derived_prefixes``: Redis keys of data made from the viewer's events (the
        recommender's precomputed lists, ``recs:rows:``), named by prefix + pseudonym by the
        layers that own them, deleted first."""
        audit = viewer_privacy.start_erasure(catalog, account, actor)
        assert audit.id is not None
        counts: dict[str, int] = {}
        lock = self.log.client.lock(ERASURE_LOCK, timeout=ERASURE_LOCK_S, blocking_timeout=wait_s)
        try:
            if not lock.acquire():
                raise ErasureBusy("another erasure is running; run this one again after it")
            try:
                viewer = self.viewer(account)
                if derived_prefixes:
                    self.log.client.delete(*(prefix + viewer for prefix in derived_prefixes))
                self._erase_viewer(viewer, counts)
            finally:
                # A lock that lapsed (an erasure past ERASURE_LOCK_S) or a Redis gone by now
                # changes nothing done; the lock lapses by itself.
                with contextlib.suppress(redis.RedisError):
                    lock.release()
        except Exception as exc:  # any failure is recorded, then raised as ErasureFailed
            reason = f"{type(exc).__name__}: {exc}"
            failed = viewer_privacy.end_erasure(catalog, audit.id, counts, reason=reason)
            raise ErasureFailed(failed) from exc
        return viewer_privacy.end_erasure(catalog, audit.id, counts)

    def _erase_viewer(self, viewer: str, counts: dict[str, int]) -> None:
        """Stream, files, then the files a writer wrote from what it held in hand; ``counts``
        grows step by step, so a failure records what was removed before it.

        Once the stream holds none of the viewer's entries, each of them is either in a file
        or in a writer's hand (read, not yet acknowledged: its file may land after the pass
        over the files). So the newest entry in hand is noted after the stream, and once
        every entry up to it is acknowledged (or the wait ends), the hours from the oldest
        one's are rewritten again."""
        counts["stream_entries"] = self.log.erase(viewer)
        in_hand = self.log.in_hand()
        files, rows = maintenance.erase_viewer_files(self.store, viewer)
        counts.update(files_rewritten=files, rows=rows)
        if in_hand is not None:
            oldest, newest = in_hand
            deadline = time.monotonic() + IN_HAND_WAIT_S
            while (now := self.log.in_hand()) is not None and _id_order(now[0]) <= _id_order(
                newest
            ):
                if time.monotonic() > deadline:
                    break  # a dead writer's entries: its successor finds them deleted
                time.sleep(0.2)
            # Entry ids start with their append time in ms; server_ts is a little earlier.
            appended = datetime.fromtimestamp(_id_order(oldest)[0] / 1000, UTC)
            more = maintenance.erase_viewer_files(
                self.store, viewer, since=appended - timedelta(minutes=5)
            )
            counts.update(files_rewritten=files + more[0], rows=rows + more[1])

    def compact(self, retention: Retention, now: datetime | None = None) -> dict[str, int]:
        """One upkeep run in this process, as the hourly schedule's activities do it
        (``events.upkeep``): compact every finished hour, writing the kept aggregates
        first, then drop partitions past retention."""
        return upkeep.run_upkeep(
            self.store,
            self.files,
            now or datetime.now(UTC),
            retention,
            exclusive=lambda: upkeep_lock(self.log.client),
        )

    def run_writer(self) -> WriterCounts:
        """Write until SIGTERM or SIGINT; the batch in hand is finished first."""
        running = [True]

        def stop(_signum: int, _frame: FrameType | None) -> None:
            running[0] = False

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        consumer = f"{socket.gethostname()}-{os.getpid()}"
        # The QoE histograms Grafana reads come from the qoe events written (events.metrics).
        metrics = WriterMetrics()
        server = metrics.serve(self.metrics_bind) if self.metrics_bind else None
        writer = EventWriter(
            self.log,
            self.store,
            consumer,
            claim_idle_ms=self.claim_idle_ms,
            on_written=metrics.observe,
        )
        try:
            return writer.run(lambda: running[0])
        finally:
            if server is not None:
                server.shutdown()


def _checked_bind(bind: str | None) -> str | None:
    if bind:
        parse_bind(bind)  # ConfigError naming the variable: refuse to start
    return bind or None


def _id_order(entry_id: str) -> tuple[int, int]:
    """A stream entry id (``<ms>-<seq>``) in the order Redis gives them."""
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)
