"""A size-bounded, least-recently-used cache of downloaded inputs on a media worker's disk.

With an S3 store every chunk encode, QC pass and packaging run needs a local copy of its
master or renditions; without a bound the copies pile up until the disk is full. Files are
evicted oldest-use first once the total passes ``max_bytes``, never while an activity holds
them: each ``acquire`` pins its file and the activity's pin scope releases it when the
activity ends (``InputPinInterceptor``, installed by the worker). An input larger than the
whole budget, or a budget full of pinned files, still loads: the cache runs over for as long
as the pins last and shrinks back on release.

One worker process owns one cache directory (its index lives in memory); on start it
adopts the files already there in modification-time order, so a restarted worker keeps
its warm inputs, and removes half-written downloads.
"""

from __future__ import annotations

import contextvars
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

log = logging.getLogger(__name__)

TEMP_SUFFIX = ".rftmp"  # storage.base.atomic_temp's half-written download


@dataclass
class _Entry:
    size: int
    pins: int = 0


class InputCache:
    def __init__(self, root: Path, max_bytes: int) -> None:
        if max_bytes <= 0:
            raise ValueError(f"max_bytes must be positive, got {max_bytes}")
        self.root = root
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, _Entry] = OrderedDict()  # oldest use first
        self._loading: dict[str, threading.Event] = {}
        self._total = 0
        root.mkdir(parents=True, exist_ok=True)
        self._adopt()

    def path(self, name: str) -> Path:
        return self.root / name

    def acquire(self, name: str, size_of: Callable[[], int], fetch: Callable[[Path], Any]) -> Path:
        """The cached file ``name``, pinned; ``fetch(path)`` writes it (atomically) on a miss.

        ``size_of`` is asked only on a miss, to make room before the download starts. Two
        activities wanting the same missing input share one download.
        """
        while True:
            with self._lock:
                entry = self._entries.get(name)
                if entry is not None:
                    entry.pins += 1
                    self._entries.move_to_end(name)
                    return self.path(name)
                waiting = self._loading.get(name)
                if waiting is None:
                    self._loading[name] = threading.Event()
                    break
            waiting.wait()  # another thread is fetching it; then take its result (or retry)
        try:
            size = size_of()
            with self._lock:
                self._evict(room_for=size)
            fetch(self.path(name))
            size = self.path(name).stat().st_size
        except BaseException:
            with self._lock:
                self._loading.pop(name).set()
            raise
        with self._lock:
            self._entries[name] = _Entry(size, pins=1)
            self._total += size
            self._loading.pop(name).set()
            self._evict(room_for=0)
        return self.path(name)

    def release(self, name: str) -> None:
        with self._lock:
            entry = self._entries.get(name)
            if entry is None or entry.pins == 0:
                raise RuntimeError(f"release of an input that is not pinned: {name}")
            entry.pins -= 1
            self._evict(room_for=0)

    def _evict(self, room_for: int) -> None:
        """Drop unpinned files, oldest use first, until ``room_for`` more bytes fit."""
        for name in list(self._entries):
            if self._total + room_for <= self.max_bytes:
                return
            entry = self._entries[name]
            if entry.pins:
                continue
            self.path(name).unlink(missing_ok=True)
            del self._entries[name]
            self._total -= entry.size
            log.info("input cache: evicted %s (%d bytes)", name, entry.size)
        if self._total + room_for > self.max_bytes:
            log.warning(
                "input cache over budget: %d + %d bytes > %d, all pinned",
                self._total,
                room_for,
                self.max_bytes,
            )

    def _adopt(self) -> None:
        found: list[tuple[float, str, int]] = []
        for path in self.root.iterdir():
            if not path.is_file():
                continue
            if path.name.endswith(TEMP_SUFFIX):
                path.unlink(missing_ok=True)  # a download a killed worker left half-written
                continue
            st = path.stat()
            found.append((st.st_mtime, path.name, st.st_size))
        for _mtime, name, size in sorted(found):
            self._entries[name] = _Entry(size)
            self._total += size
        with self._lock:
            self._evict(room_for=0)


# The pins taken while one activity runs; released when it ends.
_scope: contextvars.ContextVar[list[tuple[InputCache, str]] | None] = contextvars.ContextVar(
    "reelflow_input_pins", default=None
)


def hold(cache: InputCache, name: str) -> None:
    """Record a pin in the running activity's scope. Outside any scope (an activity called
    directly, not through a worker) the pin is kept for good: never evicting a file in use
    matters more than the bound there."""
    pins = _scope.get()
    if pins is not None:
        pins.append((cache, name))


@contextmanager
def pin_scope() -> Iterator[None]:
    pins: list[tuple[InputCache, str]] = []
    token = _scope.set(pins)
    try:
        yield
    finally:
        _scope.reset(token)
        for cache, name in pins:
            cache.release(name)


class InputPinInterceptor(Interceptor):
    """Gives each activity a pin scope, so every cached input it used is released when it
    finishes, fails or is cancelled. Sync activities run in a thread with a copy of this
    context, which shares the scope's list."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _PinScopeInbound(next)


class _PinScopeInbound(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        with pin_scope():
            return await self.next.execute_activity(input)
