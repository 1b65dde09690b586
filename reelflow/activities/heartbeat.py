"""Timer heartbeats for every activity, carrying what the current step has done so far.

Heartbeats used to come from ffmpeg's progress lines only, so a step without them (fetching
or uploading a master, joining chunks, packaging, verifying) went silent for minutes on a
feature-length title and the server timed the attempt out, again and again. Here a daemon
thread heartbeats every heartbeat_timeout / 3 (the auto-heartbeat pattern of Temporal's
samples, in a thread because our activities are sync and run in a thread pool) for as long
as the activity body runs, whatever it is blocked on.

The details are the step's real progress, from a ``Progress`` the step updates (bytes
fetched or uploaded, chunk encode percentage, files uploaded), so ``temporal workflow
describe`` shows how far an attempt got. They also carry ``resume``: state a retry picks up
(``activity.info().heartbeat_details``), such as an S3 multipart upload's id, so a killed
attempt's parts are not sent again.

``auto_heartbeat`` also sets the subprocess stall limits (``media.watchdog``) from the
settings and turns a killed, hung tool into a retryable ``SubprocessStalled`` failure.
"""

from __future__ import annotations

import contextvars
import functools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

from temporalio import activity
from temporalio.exceptions import ApplicationError

from reelflow.config import Settings
from reelflow.media.watchdog import StallLimits, SubprocessStalled, stall_limits
from reelflow.storage import ObjectInfo, ObjectStore
from reelflow.storage.base import UploadResume

log = logging.getLogger(__name__)

# Without a heartbeat timeout (control-queue activities) nothing times out, but the
# details still show progress in `temporal workflow describe`.
NO_TIMEOUT_INTERVAL_S = 10.0

P = ParamSpec("P")
R = TypeVar("R")


class Progress:
    """What the running step has done; updated by the step, read by the heartbeat thread."""

    def __init__(self, resume: dict[str, Any] | None = None) -> None:
        self._lock = threading.Lock()
        self._started = time.monotonic()
        self._step = "start"
        self._done: float = 0
        self._total: float | None = None
        self._unit: str | None = None
        self._resume: dict[str, Any] = dict(resume or {})
        self.beat: Callable[[dict[str, Any]], None] | None = None  # set while heartbeating

    def update(
        self,
        step: str | None = None,
        *,
        done: float | None = None,
        total: float | None = None,
        unit: str | None = None,
    ) -> None:
        """A new step (its counters start again) or new counts for the current one."""
        with self._lock:
            if step is not None and step != self._step:
                self._step, self._done, self._total, self._unit = step, 0, None, None
            if done is not None:
                self._done = done
            if total is not None:
                self._total = total
            if unit is not None:
                self._unit = unit

    def add(self, n: float) -> None:
        with self._lock:
            self._done += n

    def bytes(self, step: str, total: int | None = None) -> Callable[[int], None]:
        """Start ``step`` counting bytes; the storage/fetch ``progress`` callback."""
        self.update(step, done=0, total=total, unit="bytes")
        return self.add

    def fraction(self, step: str) -> Callable[[float], None]:
        """An ffmpeg ``on_progress`` callback (0..1) reporting a percentage of ``step``."""

        def report(fraction: float) -> None:
            self.update(step, done=round(100 * fraction, 1), total=100, unit="%")

        return report

    def upload_resume(self, key: str) -> UploadResume:
        """A store upload of ``key`` that a retry continues (its state rides the heartbeat)."""
        with self._lock:
            state = dict(self._resume.get(key) or {})
        return UploadResume(state=state, on_change=lambda new: self.checkpoint(key, new))

    def checkpoint(self, name: str, state: dict[str, Any] | None) -> None:
        """Record resume state (None: forget it) and heartbeat it now, not a timer tick
        later: a kill right after would otherwise lose it."""
        with self._lock:
            if state is None:
                self._resume.pop(name, None)
            else:
                self._resume[name] = state
        if self.beat is not None:
            self.beat(self.details())

    def details(self) -> dict[str, Any]:
        with self._lock:
            out: dict[str, Any] = {
                "step": self._step,
                "done": self._done,
                "elapsed_s": round(time.monotonic() - self._started, 1),
            }
            if self._total is not None:
                out["total"] = self._total
            if self._unit is not None:
                out["unit"] = self._unit
            if self._resume:
                out["resume"] = dict(self._resume)
            return out


_CURRENT: contextvars.ContextVar[Progress | None] = contextvars.ContextVar(
    "reelflow_activity_progress", default=None
)


def current_progress() -> Progress:
    """The running activity's progress; outside one, a detached object nobody reads."""
    return _CURRENT.get() or Progress()


def _prior_resume() -> dict[str, Any]:
    for detail in activity.info().heartbeat_details:
        if isinstance(detail, dict) and isinstance(detail.get("resume"), dict):
            return dict(detail["resume"])
    return {}


def _send(details: dict[str, Any]) -> None:
    try:
        activity.heartbeat(details)
    except Exception:  # a closing worker: the attempt ends anyway, the body must not die
        log.debug("heartbeat not sent", exc_info=True)


@contextmanager
def heartbeating(limits: StallLimits | None = None) -> Iterator[Progress]:
    """Heartbeat every heartbeat_timeout / 3 (at once on entry) until the block ends.

    Called outside a worker (an activity method run directly by ops tooling or a test)
    there is nobody to heartbeat to: the block runs with stall limits and a detached
    progress object only."""
    if not activity.in_activity():
        with stall_limits(limits):
            yield Progress()
        return
    timeout = activity.info().heartbeat_timeout
    interval = timeout.total_seconds() / 3 if timeout else NO_TIMEOUT_INTERVAL_S
    progress = Progress(resume=_prior_resume())
    progress.beat = _send
    stop = threading.Event()

    def run() -> None:
        while True:
            _send(progress.details())
            if stop.wait(interval):
                return

    # The activity context lives in a context variable: the thread runs in a copy of it.
    thread = threading.Thread(
        target=contextvars.copy_context().run, args=(run,), name="heartbeat", daemon=True
    )
    token = _CURRENT.set(progress)
    thread.start()
    try:
        with stall_limits(limits):
            yield progress
    finally:
        stop.set()
        thread.join()
        progress.beat = None
        _CURRENT.reset(token)


class _HasDeps(Protocol):
    @property
    def deps(self) -> _DepsLike: ...


class _DepsLike(Protocol):
    settings: Settings


S = TypeVar("S", bound=_HasDeps)


def auto_heartbeat(fn: Callable[Concatenate[S, P], R]) -> Callable[Concatenate[S, P], R]:
    """Run an activity method inside ``heartbeating``, with the settings' stall limits."""

    @functools.wraps(fn)
    def run(self: S, *args: P.args, **kwargs: P.kwargs) -> R:
        s = self.deps.settings
        limits = StallLimits(s.subprocess_stall_s, s.subprocess_kill_grace_s)
        try:
            with heartbeating(limits):
                return fn(self, *args, **kwargs)
        except SubprocessStalled as exc:
            # A hang is this run's fault, not the input's: retry (the text has no argv).
            raise ApplicationError(str(exc), type="SubprocessStalled") from None

    return run


def upload(store: ObjectStore, key: str, path: Path, *, step: str = "upload") -> ObjectInfo:
    """``store.put_file`` with its bytes in the heartbeat and an upload a retry continues."""
    progress = current_progress()
    counter = progress.bytes(f"{step} {key.rsplit('/', 1)[-1]}", path.stat().st_size)
    info = store.put_file(key, path, progress=counter, resume=progress.upload_resume(key))
    progress.checkpoint(key, None)
    return info
