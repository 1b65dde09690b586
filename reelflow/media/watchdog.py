"""Kill a tool that stopped making progress: the stall watchdog for ffmpeg and the packager.

A hung ffmpeg or Shaka Packager (a stuck network read, a decoder spinning without output)
would otherwise hold a media slot until the activity's start-to-close timeout, hours away
for a feature-length title, while the activity's timer heartbeats keep it looking alive.
``StallWatchdog`` watches a liveness signal (progress lines, or the size of what the tool
writes) and, when it stays flat for ``stall_s``, sends SIGTERM, then SIGKILL after
``grace_s``. The runner then raises its ``SubprocessStalled`` error, which activities turn
into a retryable failure: a hang is a fault of this run, not of the input.

Limits are set per activity (``stall_limits``, from ``Settings.subprocess_stall_s``); with
none set (CLI, library use) runners watch nothing and behave as before.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import IO


@dataclass(frozen=True)
class StallLimits:
    stall_s: float  # no progress for this long: the tool is presumed hung
    grace_s: float  # between SIGTERM and SIGKILL

    def __post_init__(self) -> None:
        if self.stall_s <= 0 or self.grace_s < 0:
            raise ValueError(f"stall_s must be > 0 and grace_s >= 0, got {self}")


_LIMITS: ContextVar[StallLimits | None] = ContextVar("reelflow_stall_limits", default=None)


@contextmanager
def stall_limits(limits: StallLimits | None) -> Iterator[None]:
    """Tool runs inside this block (same thread or context) are watched with ``limits``."""
    token = _LIMITS.set(limits)
    try:
        yield
    finally:
        _LIMITS.reset(token)


def current_stall_limits() -> StallLimits | None:
    return _LIMITS.get()


class SubprocessStalled(Exception):
    """Mixed into each runner's error: the tool made no progress for ``stall_s`` and was
    killed. Worth a retry (on this worker or another)."""


class StallWatchdog:
    """Watches ``proc`` from a daemon thread while the ``with`` block runs.

    Progress is either pushed (``alive()`` from the reading loop) or pulled: ``probe`` is
    called every poll and any change of its value counts as progress (a file's size).
    With ``limits=None`` it watches nothing, so runners have one code path.
    """

    def __init__(
        self,
        proc: subprocess.Popen[bytes] | subprocess.Popen[str],
        limits: StallLimits | None,
        *,
        probe: Callable[[], object] | None = None,
    ) -> None:
        self._proc = proc
        self.limits = limits
        self._probe = probe
        self._last_value: object = None
        self._last_progress = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="stall-watchdog", daemon=True)
        self.stalled = False
        # Short enough to notice a stall within a few percent of stall_s; probes are cheap.
        self._poll_s = min(max(limits.stall_s / 20, 0.05), 2.0) if limits else 0.0

    def alive(self) -> None:
        self._last_progress = time.monotonic()

    def __enter__(self) -> StallWatchdog:
        if self.limits is None:
            return self
        if self._probe is not None:
            self._last_value = self._probe()
        self._last_progress = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _watch(self) -> None:
        assert self.limits is not None
        while not self._stop.wait(self._poll_s):
            if self._proc.poll() is not None:
                return
            if self._probe is not None:
                value = self._probe()
                if value != self._last_value:
                    self._last_value = value
                    self.alive()
            if time.monotonic() - self._last_progress >= self.limits.stall_s:
                self.stalled = True
                self._terminate()
                return

    def _terminate(self) -> None:
        assert self.limits is not None
        self._proc.terminate()
        deadline = time.monotonic() + self.limits.grace_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                return
            time.sleep(0.05)
        # poll() can't see an exit while another thread is inside wait(); kill() of a
        # reaped process is a no-op (Popen checks returncode first).
        self._proc.kill()


def spawn(
    cmd: list[str],
    *,
    stdout: int,
    stderr: IO[bytes],
    not_found: Exception,
    cwd: Path | None = None,
    pass_fds: tuple[int, ...] = (),
) -> subprocess.Popen[bytes]:
    """Start a tool with no stdin, the runners' one way in; a missing binary raises
    ``not_found`` without chaining the ``FileNotFoundError`` (whose text is the command).
    ``pass_fds``: descriptors the tool inherits (the packager's in-memory key flags)."""
    try:
        return subprocess.Popen(
            cmd,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            pass_fds=pass_fds,
        )
    except FileNotFoundError:
        raise not_found from None


@contextmanager
def killed_after(
    proc: subprocess.Popen[bytes], timeout_s: float | None
) -> Iterator[threading.Event]:
    """Kill ``proc`` once ``timeout_s`` passes (falsy: never); the event says the timer
    fired. On leaving, a ``proc`` still running (the reader gave up early) is killed and
    reaped."""
    timed_out = threading.Event()

    def _kill() -> None:
        timed_out.set()
        proc.kill()

    timer = threading.Timer(timeout_s, _kill) if timeout_s else None
    if timer is not None:
        timer.daemon = True
        timer.start()
    try:
        yield timed_out
    finally:
        if timer is not None:
            timer.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
