"""The events parts built from one Settings: the log, the files, the pseudonym key, and the
operations the CLI and the API run on them (stats, the writer loop, erasure, export)."""

from __future__ import annotations

import os
import signal
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from types import FrameType

import redis

from reelflow.config import Settings
from reelflow.events import maintenance, queries, upkeep
from reelflow.events.log import RedisStreamLog
from reelflow.events.pseudonym import pseudonym_key, viewer_pseudonym
from reelflow.events.retention import Retention
from reelflow.events.writer import EventWriter, WriterCounts
from reelflow.storage import store_from_settings
from reelflow.storage.base import ObjectStore


@dataclass(frozen=True)
class Events:
    log: RedisStreamLog
    store: ObjectStore
    files: queries.EventFiles
    key: bytes

    @classmethod
    def from_settings(cls, settings: Settings) -> Events:
        client = redis.Redis.from_url(settings.redis_url)
        return cls(
            log=RedisStreamLog(client),
            store=store_from_settings(settings),
            files=queries.EventFiles.from_settings(settings),
            key=pseudonym_key(settings.secrets().signing_secret),
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

    def erase(self, account: str) -> dict[str, int]:
        """Remove the account's events from the stream first, then from the files."""
        viewer = self.viewer(account)
        from_stream = self.log.erase(viewer)
        files, rows = maintenance.erase_viewer_files(self.store, viewer)
        return {"stream_entries": from_stream, "files_rewritten": files, "rows": rows}

    def compact(self, retention: Retention, now: datetime | None = None) -> dict[str, int]:
        """One upkeep run in this process, as the hourly schedule's activities do it
        (``events.upkeep``): compact every finished hour, writing the kept aggregates
        first, then drop partitions past retention."""
        return upkeep.run_upkeep(self.store, self.files, now or datetime.now(UTC), retention)

    def run_writer(self) -> WriterCounts:
        """Write until SIGTERM or SIGINT; the batch in hand is finished first."""
        running = [True]

        def stop(_signum: int, _frame: FrameType | None) -> None:
            running[0] = False

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        consumer = f"{socket.gethostname()}-{os.getpid()}"
        return EventWriter(self.log, self.store, consumer).run(lambda: running[0])
