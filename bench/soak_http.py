"""A small HTTP/1.1 keep-alive client on asyncio streams for bench/soak.py's open loop.

httpx's connection pool assigns queued requests to connections in time proportional to
both: once answers slowed on a loaded host, thousands of queued requests kept the client's
core busy and the client, not the API, became what was measured (bench/events_ingest.py
found the same and sends raw requests too). Here a request takes an idle connection to its
host or opens one; nothing is queued in the client.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]  # names in lower case
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


async def _read(reader: asyncio.StreamReader) -> tuple[Answer, bool]:
    """One response, and whether the connection may be used again."""
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    status = int(head[0].split(" ", 2)[1])
    headers = {}
    for line in head[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        parts = []
        while size := int((await reader.readline()).split(b";")[0], 16):
            parts.append((await reader.readexactly(size + 2))[:-2])
        await reader.readuntil(b"\r\n")  # the empty trailer
        body = b"".join(parts)
    else:
        body = await reader.readexactly(int(headers.get("content-length", "0")))
    return Answer(status, headers, body), headers.get("connection", "").lower() != "close"


class RawClient:
    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self._idle: dict[tuple[str, int], list[Conn]] = {}

    async def request(
        self, method: str, url: str, headers: dict[str, str], body: bytes | None
    ) -> Answer:
        """Raises OSError, asyncio.IncompleteReadError or TimeoutError without an answer."""
        parts = urlsplit(url)
        key = (parts.hostname or "127.0.0.1", parts.port or 80)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        lines = [f"{method} {target} HTTP/1.1", f"Host: {parts.netloc}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        if body is not None:
            lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
        payload = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")
        idle = self._idle.setdefault(key, [])
        # A kept-alive connection the server has just closed fails before the server read
        # the request: send it once more on a fresh connection, as browsers do.
        for reused in ([True] if idle else []) + [False]:
            conn = idle.pop() if reused else await asyncio.open_connection(*key)
            try:
                conn[1].write(payload)
                answer, keep = await asyncio.wait_for(_read(conn[0]), self.timeout_s)
            except TimeoutError:  # an OSError too: caught first, never sent twice
                conn[1].close()
                raise
            except (OSError, asyncio.IncompleteReadError, ValueError):
                conn[1].close()
                if reused:
                    continue
                raise
            if keep:
                idle.append(conn)
            else:
                conn[1].close()
            return answer
        raise AssertionError("unreachable: the fresh connection's attempt returns or raises")

    def close(self) -> None:
        for conns in self._idle.values():
            for _, writer in conns:
                writer.close()
        self._idle.clear()
