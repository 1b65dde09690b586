"""What activities need from the outside world, built once per worker process."""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from reelflow.activities.heartbeat import current_progress
from reelflow.catalog import engine_from_settings
from reelflow.config import Settings
from reelflow.storage import ObjectStore, store_from_settings


@dataclass
class Deps:
    settings: Settings
    engine: Engine
    store: ObjectStore

    @classmethod
    def from_settings(cls, settings: Settings) -> Deps:
        settings.ensure_home()
        return cls(settings, engine_from_settings(settings), store_from_settings(settings))

    @property
    def ffmpeg(self) -> str:
        return self.settings.binary("ffmpeg")

    @property
    def ffprobe(self) -> str:
        return self.settings.binary("ffprobe")

    @property
    def work_root(self) -> Path:
        path = self.settings.home / "work"
        path.mkdir(parents=True, exist_ok=True)
        return path

    @contextmanager
    def scratch(self, label: str) -> Iterator[Path]:
        """A private work directory, removed afterwards whatever happens."""
        path = Path(tempfile.mkdtemp(prefix=f"{label}-", dir=self.work_root))
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)

    def local_copy(self, key: str) -> Path:
        """A local path for an object: the file itself on LocalStore, a cached copy on S3."""
        direct = self.store.local_path(key)
        if direct is not None:
            return direct
        cache = self.work_root / "cache" / hashlib.sha256(key.encode()).hexdigest()
        if not cache.exists():
            cache.parent.mkdir(parents=True, exist_ok=True)
            counter = current_progress().bytes(
                f"download {key.rsplit('/', 1)[-1]}", self.store.stat(key).size
            )
            self.store.get_file(key, cache, progress=counter)  # atomic: temp file then rename
        return cache


def params_hash(params: Any) -> str:
    """A short stable hash of activity parameters, part of every derived output key."""
    blob = json.dumps(params, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:12]
