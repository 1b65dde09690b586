"""Admission control: one worker runs a bounded number of requests at once and refuses the
rest quickly (503 ``overloaded`` + Retry-After) instead of letting every request slow down.

Past its capacity a server that admits everything shares its core among ever more
requests: all of them get slow together and the queue grows without end (an open-loop
client saw p99 reach 13 s). Here at most ``max_in_flight`` requests run; up to ``max_queue``
more wait in arrival order; a request that has waited ``budget_s`` is answered 503 without
doing any work (its answer could no longer be fast, and the client's retry after
Retry-After may find a freer replica; the edge passes the 503 on as it is, so the busy
replica stays in rotation). So the accepted requests stay fast and the refused ones are
refused in about the budget.

Not counted, never refused: the operations routes (``/healthz``, ``/readyz``, ``/metrics``:
a load balancer that sees a busy replica as dead moves its whole load onto the others, and
operators need the metrics most when it is busy) and the embedded origin under ``/media/``
(a refused segment stalls a viewer who is already watching, while a refused start only
delays one who is about to; behind the edge the segment cache and its lock send each
object to the origin once, so these requests are few and mostly wait on the store, not the
core).

Pure ASGI (Starlette's BaseHTTPMiddleware costs far more per request). State is per
process: each worker counts its own requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

from reelflow.config import Settings
from reelflow.playback_api.http.problems import Problem, problem_response

EXEMPT_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
EXEMPT_PREFIXES = ("/media/",)


@dataclass(frozen=True)
class Limits:
    max_in_flight: int
    max_queue: int
    budget_s: float
    retry_after_s: int

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(
            max_in_flight=settings.api_max_in_flight,
            max_queue=settings.api_max_queue,
            budget_s=settings.api_queue_budget_ms / 1000,
            retry_after_s=settings.api_retry_after_s,
        )


@dataclass
class _Waiter:
    since: float
    granted: asyncio.Future[bool]

    def holds_slot(self) -> bool:
        g = self.granted
        return g.done() and not g.cancelled() and g.result()


class AdmissionMiddleware:
    """Bounds the requests running at once; refuses the excess with a 503 problem."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        limits: Limits,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.limits = limits
        # Injectable so a test can age a queued request without sleeping.
        self.clock = clock
        self.in_flight = 0
        self.waiting: deque[_Waiter] = deque()
        self.shed = 0  # refusals since start

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _exempt(scope["path"]):
            await self.app(scope, receive, send)
            return
        if not await self._admit():
            await self._refuse(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self._release()

    async def _admit(self) -> bool:
        if self.in_flight < self.limits.max_in_flight and not self.waiting:
            self.in_flight += 1
            return True
        if len(self.waiting) >= self.limits.max_queue:
            return False
        waiter = _Waiter(self.clock(), asyncio.get_running_loop().create_future())
        self.waiting.append(waiter)
        try:
            # The slot is handed over by _release (in_flight already counts this request).
            return await asyncio.wait_for(asyncio.shield(waiter.granted), self.limits.budget_s)
        except TimeoutError:
            if waiter.holds_slot():
                return True  # granted in the same loop turn as the timeout: keep the slot
            self._drop(waiter)
            return False
        except asyncio.CancelledError:
            # The client went away while queued: give back a slot it may have just received.
            if waiter.holds_slot():
                self._release()
            else:
                self._drop(waiter)
            raise

    def _drop(self, waiter: _Waiter) -> None:
        # Out of the queue at once, so stale waiters never count against max_queue.
        waiter.granted.cancel()
        with contextlib.suppress(ValueError):  # _release popped it already
            self.waiting.remove(waiter)

    def _release(self) -> None:
        """Hand the freed slot to the oldest waiter still within its budget; a waiter whose
        budget passed while the loop was too busy to run its timer is refused here."""
        now = self.clock()
        while self.waiting:
            waiter = self.waiting.popleft()
            if waiter.granted.done():  # timed out or cancelled: already answered
                continue
            if now - waiter.since > self.limits.budget_s:
                waiter.granted.set_result(False)
                continue
            waiter.granted.set_result(True)
            return  # the slot passes on: in_flight unchanged
        self.in_flight -= 1

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.shed += 1
        problem = Problem(
            "overloaded",
            "this server is at capacity; retry after the time Retry-After gives",
            headers={"Retry-After": str(self.limits.retry_after_s)},
        )
        scope.setdefault("state", {})["problem"] = problem.slug  # for metrics and the log
        await problem_response(problem)(scope, receive, send)


def _exempt(path: str) -> bool:
    return path in EXEMPT_PATHS or path.startswith(EXEMPT_PREFIXES)
