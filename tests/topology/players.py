"""Steady player load through the edge, for the fleet tests (a replica killed, a rolling
restart): a few threads, each playing like a player does at its start, over and over.

One round: a playback start (POST, with an Idempotency-Key, so the edge may retry it on the
other replica), the session's DASH manifest (GET) and a ClearKey license (POST under the
viewer's credential). A new viewer each round keeps stream limits out of the way. Every
answer is kept; the loops are bounded in rounds and stop when told.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import uuid
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from tests.topology import lifecycle as lc
from tests.topology.harness import Topology, http

MAX_ROUNDS = 2000  # per thread: a bound on the loop whatever happens to the stop event
EXPECTED = {"start": 201, "manifest": 200, "license": 200}


@dataclass
class Answer:
    step: str
    status: int  # 0: no HTTP answer at all (refused, reset, timed out)
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.status == EXPECTED[self.step]


@dataclass
class Players:
    topo: Topology
    title_id: str
    tag: str
    threads: int = 3
    answers: list[Answer] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _workers: list[threading.Thread] = field(default_factory=list)

    def __enter__(self) -> Players:
        for n in range(self.threads):
            worker = threading.Thread(target=self._play, args=(n,), daemon=True)
            self._workers.append(worker)
            worker.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(timeout=60)

    def count(self) -> int:
        with self._lock:
            return len(self.answers)

    def wait_for(self, n: int, timeout_s: float) -> None:
        """Until ``n`` answers in all (bounded): the load is flowing."""
        deadline = time.monotonic() + timeout_s
        while self.count() < n:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.count()}/{n} player answers after {timeout_s}s")
            time.sleep(0.2)

    def failures(self) -> list[Answer]:
        with self._lock:
            return [a for a in self.answers if not a.ok]

    def summary(self) -> dict[str, dict[int, int]]:
        out: dict[str, dict[int, int]] = {}
        with self._lock:
            for a in self.answers:
                steps = out.setdefault(a.step, {})
                steps[a.status] = steps.get(a.status, 0) + 1
        return out

    def _keep(self, step: str, status: int, detail: bytes | str = b"") -> None:
        text = detail.decode(errors="replace") if isinstance(detail, bytes) else detail
        with self._lock:
            self.answers.append(Answer(step, status, "" if status < 300 else text[:300]))

    def _call(self, step: str, method: str, url: str, body: object, headers: dict[str, str]
              ) -> bytes | None:  # fmt: skip
        try:
            status, _, raw = http(method, url, body, headers, timeout_s=30)
        except (urllib.error.URLError, OSError) as exc:  # no answer: a failure too
            self._keep(step, 0, repr(exc))
            return None
        self._keep(step, status, raw)
        return raw if status == EXPECTED[step] else None

    def _play(self, n: int) -> None:
        edge = self.topo.edge_url
        for i in range(MAX_ROUNDS):
            if self._stop.is_set():
                return
            token = self.topo.viewer_token(f"{self.tag}-{n}-{i}")
            auth = {"Authorization": f"Bearer {token}"}
            body = {"device_id": f"tv-{n}", "drm": ["clearkey"], "protocols": ["dash"]}
            started = self._call("start", "POST", f"{edge}/v1/titles/{self.title_id}/playback",
                                 body, {**auth, "Idempotency-Key": uuid.uuid4().hex})  # fmt: skip
            if started is not None:
                self._follow(json.loads(started), auth)
            time.sleep(0.05)  # a failure too: a player does not retry in a tight loop

    def _follow(self, session: dict[str, Any], auth: dict[str, str]) -> None:
        mpd = self._call("manifest", "GET", session["manifests"]["dash"], None, {})
        if mpd is not None and "clearkey" in session["licenses"]:
            kids = lc.default_kids(mpd.decode())
            self._call("license", "POST", session["licenses"]["clearkey"],
                       {"kids": kids, "type": "temporary"}, auth)  # fmt: skip
