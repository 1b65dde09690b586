"""An open-loop HTTP/1.1 load generator for bench/overload.py: Poisson arrivals at a given
rate, each request timed from the moment it was due (not from when it could be sent), so a
slow server cannot slow the load down and hide its own queue (no coordinated omission).

Lighter than httpx so one process can offer a few thousand requests/s: raw requests built
once, a pool of keep-alive connections (a new one when all are busy, up to --max-conns),
only the status line and Content-Length parsed. Reads a JSON spec on stdin, writes JSON
to the spec's "out" file:

    {"results": {kind: [[status, ms, due_s], ...]}, "late_ms": [...], "timeouts": n,
     "conns": n}   (due_s: when the request was due, seconds from the start of the run)

status 0 is a connection error; a request still unanswered at the end is a timeout.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import resource
import sys
from collections import deque
from pathlib import Path
from typing import Any

CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.IGNORECASE)
CLOSE = re.compile(rb"\r\nconnection:\s*close", re.IGNORECASE)
DRAIN_S = 15.0  # how long unanswered requests may take after the last arrival
# uvicorn closes a keep-alive connection idle for 5 s: one idle longer than this is not
# reused (a request racing that close would fail for a reason of the client's making).
IDLE_S = 3.0


def raw_request(r: dict[str, Any], host: str) -> bytes:
    body = r.get("body", "").encode()
    lines = [f"{r['method']} {r['target']} HTTP/1.1", f"Host: {host}"]
    lines += [f"{k}: {v}" for k, v in r.get("headers", {}).items()]
    if body or r["method"] in ("POST", "PUT"):
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class Load:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.host, self.port = spec["host"], spec["port"]
        hostport = f"{self.host}:{self.port}"
        self.kinds = [(r["name"], raw_request(r, hostport)) for r in spec["requests"]]
        self.rate, self.seconds = float(spec["rate"]), float(spec["seconds"])
        self.rng = random.Random(spec.get("seed", 1))
        self.conns = asyncio.Semaphore(spec.get("max_conns", 2000))
        self.idle: deque[tuple[asyncio.StreamReader, asyncio.StreamWriter, float]] = deque()
        self.opened = 0
        self.results: dict[str, list[tuple[int, float, float]]] = {n: [] for n, _ in self.kinds}
        self.start = 0.0
        self.late: list[float] = []

    async def one(self, name: str, raw: bytes, due: float) -> None:
        loop = asyncio.get_running_loop()
        async with self.conns:
            conn = None
            try:
                conn = await self._connection()
                reader, writer = conn
                self.late.append((loop.time() - due) * 1000)
                writer.write(raw)
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head[9:12])
                length = CONTENT_LENGTH.search(head)
                if length:
                    await reader.readexactly(int(length.group(1)))
                self.results[name].append((status, (loop.time() - due) * 1000, due - self.start))
                if CLOSE.search(head):
                    writer.close()
                else:
                    self.idle.append((reader, writer, loop.time()))
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
                self.results[name].append((0, (loop.time() - due) * 1000, due - self.start))
                if conn is not None:
                    conn[1].close()

    async def _connection(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """The most recently used idle connection, if it is fresh enough; else a new one."""
        now = asyncio.get_running_loop().time()
        while self.idle:
            reader, writer, used = self.idle.pop()
            if now - used < IDLE_S:
                return reader, writer
            writer.close()
        return await self._open()

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        self.opened += 1
        return await asyncio.open_connection(self.host, self.port)

    async def run(self) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        tasks: set[asyncio.Task[None]] = set()
        self.start = start = loop.time() + 0.1
        due, end, i = start, start + self.seconds, 0
        while True:
            due += self.rng.expovariate(self.rate)
            if due >= end:
                break
            delay = due - loop.time()
            if delay > 0.0005:  # arrivals already due go out in this same turn
                await asyncio.sleep(delay)
            name, raw = self.kinds[i % len(self.kinds)]
            i += 1
            task = loop.create_task(self.one(name, raw, due))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        pending = set(tasks)
        if pending:
            _, pending = await asyncio.wait(pending, timeout=DRAIN_S)
        for task in pending:
            task.cancel()
        for _, writer, _ in self.idle:
            writer.close()
        return {
            "results": self.results,
            "late_ms": self.late,
            "timeouts": len(pending),
            "conns": self.opened,
        }


def main() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    spec = json.loads(sys.stdin.read())
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    result = asyncio.run(Load(spec).run())
    Path(spec["out"]).write_text(json.dumps(result))


if __name__ == "__main__":
    main()
