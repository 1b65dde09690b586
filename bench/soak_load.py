"""bench/soak.py's players: an open-loop mix of what real players send, one record a request.

Requests leave on a fixed schedule whatever the answers (no coordinated omission); each
tick goes to the next player in turn, which sends what its state calls for: a playback
start when it has no session, otherwise heartbeats, manifests, ClearKey licenses, viewer
event batches, home rows and now and then the end of its session.
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from soak_http import Answer, RawClient  # bench/ is on sys.path when the script runs

# Weights of what a player with a session sends next (a real player: heartbeats every few
# seconds, event batches as often, a license renewal or manifest refresh now and then).
MIX = (
    ("heartbeat", 20),
    ("manifest", 15),
    ("license", 15),
    ("events", 25),
    ("home", 15),
    ("end", 5),
)
TIMEOUT_S = 10.0  # an answer slower than this is a hang, counted as a failure


@dataclass(frozen=True)
class Record:
    t: float  # seconds since the load started, when the request was sent
    op: str
    status: int  # 0: no HTTP answer (connection error or timeout)
    latency_ms: float
    clean: bool  # a 503 as application/problem+json with Retry-After
    error: str = ""
    problem: str = ""  # the problem type's slug of a refusal (overloaded, service_unavailable)


@dataclass
class Player:
    api: str
    auth: dict[str, str]
    device: str
    session: dict[str, Any] | None = None
    starting: bool = False
    position: float = 0.0


@dataclass
class Load:
    title_id: str
    kids_b64: list[str]
    players: list[Player]
    records: list[Record] = field(default_factory=list)

    def next_op(self, player: Player, rng: random.Random) -> str:
        if player.session is None:
            return "home" if player.starting else "start"
        ops, weights = zip(*MIX, strict=True)
        return rng.choices(ops, weights)[0]

    def request(self, player: Player, op: str) -> tuple[str, str, dict[str, str], bytes | None]:
        """Method, URL, headers, body of ``op`` for ``player``."""
        s, auth = player.session, player.auth
        if op == "start":
            body = {"device_id": player.device, "drm": ["clearkey"]}
            return "POST", f"{player.api}/v1/titles/{self.title_id}/playback", auth, _json(body)
        if op == "home":
            return "GET", f"{player.api}/v1/me/home", auth, None
        if op == "events":
            return "POST", f"{player.api}/v1/events", auth, _json({"events": _events(self)})
        assert s is not None
        sid = s["session_id"]
        if op == "heartbeat":
            player.position += 10.0
            url = f"{player.api}/v1/sessions/{sid}/heartbeat"
            return "PUT", url, auth, _json({"position": player.position})
        if op == "manifest":
            return "GET", s["manifests"]["dash"], {}, None
        if op == "license":
            body = {"kids": self.kids_b64, "type": "temporary"}
            return "POST", s["licenses"]["clearkey"], auth, _json(body)
        return "DELETE", f"{player.api}/v1/sessions/{sid}?position={player.position}", auth, None

    def learn(self, player: Player, op: str, response: Answer | None) -> None:
        """Update the player's state from an answer (or its absence)."""
        ok = response is not None and response.status < 300
        if op == "start":
            player.starting = False
            if ok and response is not None:
                player.session, player.position = response.json(), 0.0
        elif op in ("heartbeat", "manifest", "license") and response is not None:
            if response.status == 410:  # the lease ended: start again
                player.session = None
            elif op == "heartbeat" and ok and player.session is not None:
                player.session["licenses"] = response.json()["licenses"]


def _json(body: Any) -> bytes:
    return json.dumps(body).encode()


def _events(load: Load) -> list[dict[str, Any]]:
    now = datetime.now(UTC).isoformat()
    return [
        {
            "id": str(uuid.uuid4()),
            "type": "progress",
            "ts": now,
            "title": load.title_id,
            "position_s": float(n),
        }
        for n in range(5)
    ]


def _slug(response: Answer | None) -> str:
    if response is None or response.status < 400:
        return ""
    try:
        return str(response.json().get("type", "")).rsplit("/", 1)[-1]
    except ValueError:
        return "not json"


def kids_b64(kids_hex: list[str]) -> list[str]:
    return [base64.urlsafe_b64encode(bytes.fromhex(k)).rstrip(b"=").decode() for k in kids_hex]


Request = tuple[str, str, dict[str, str], bytes | None]


async def _one(
    load: Load, client: RawClient, player: Player, op: str, req: Request, due: float, t0: float
) -> None:
    method, url, headers, body = req
    sent = due  # latency counts from when the request was due (no coordinated omission)
    response: Answer | None = None
    error = ""
    try:
        response = await client.request(method, url, headers, body)
    except (OSError, asyncio.IncompleteReadError) as exc:  # TimeoutError is an OSError
        error = type(exc).__name__
    latency = (time.perf_counter() - sent) * 1000
    status = response.status if response is not None else 0
    clean = (
        response is not None
        and status == 503
        and response.headers.get("content-type", "").startswith("application/problem+json")
        and "retry-after" in response.headers
    )
    load.records.append(Record(sent - t0, op, status, latency, clean, error, _slug(response)))
    load.learn(player, op, response)


async def run_load(load: Load, rate: float, seconds: float, t0: float) -> None:
    """Send ``rate`` requests/s for ``seconds``, round-robin over the players."""
    rng = random.Random(25)
    client = RawClient(TIMEOUT_S)
    try:
        tasks: set[asyncio.Task[None]] = set()
        total = int(rate * seconds)
        for n in range(total):
            due = t0 + n / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            player = load.players[n % len(load.players)]
            op = load.next_op(player, rng)
            if op == "start":
                player.starting = True
            # Built now, from the state the op was chosen on (an answer may change it).
            req = load.request(player, op)
            if op == "end":  # a player sends nothing more on a session it is ending
                player.session = None
            task = asyncio.create_task(_one(load, client, player, op, req, due, t0))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.wait(tasks, timeout=TIMEOUT_S * 2)
    finally:
        client.close()
