"""What activities need from the outside world, built once per worker process."""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from reelflow.activities.heartbeat import current_progress
from reelflow.activities.input_cache import InputCache, hold
from reelflow.catalog import engine_from_settings
from reelflow.config import Settings
from reelflow.storage import ObjectStore, store_from_settings


@dataclass
class Deps:
    settings: Settings
    engine: Engine
    store: ObjectStore
    _cache: InputCache | None = field(default=None, init=False, repr=False)
    _cache_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> Deps:
        settings.ensure_home()
        engine = engine_from_settings(settings, role="worker")
        return cls(settings, engine, store_from_settings(settings))

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

    @property
    def input_cache(self) -> InputCache:
        with self._cache_lock:
            if self._cache is None:
                self._cache = InputCache(self.work_root / "cache", self.settings.media_cache_bytes)
            return self._cache

    def local_copy(self, key: str) -> Path:
        """A local path for an object: the file itself on LocalStore, a cached copy on S3.

        The copy stays pinned (not evictable) until the calling activity ends.
        """
        direct = self.store.local_path(key)
        if direct is not None:
            return direct
        name = hashlib.sha256(key.encode()).hexdigest()
        size: list[int] = []

        def size_of() -> int:
            size.append(self.store.stat(key).size)
            return size[0]

        def fetch(dest: Path) -> None:
            counter = current_progress().bytes(f"download {key.rsplit('/', 1)[-1]}", size[0])
            self.store.get_file(key, dest, progress=counter)  # atomic: temp file then rename

        cache = self.input_cache
        path = cache.acquire(name, size_of, fetch)
        hold(cache, name)
        return path


def params_hash(params: Any) -> str:
    """A short stable hash of activity parameters, part of every derived output key."""
    blob = json.dumps(params, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:12]
