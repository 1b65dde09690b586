"""Playback sessions and concurrent-stream leases, held in Redis.

Per account, a sorted set of device leases scored by their expiry (ms). Starting a session
drops expired leases, then takes a lease for the device unless the account already holds
its plan's maximum. A start on a device that holds a live lease takes that lease over (a
reload or a second tab on one device is not a second stream) only when the device is
bound by the identity provider (the token's ``device`` claim) or the start names the
session it replaces: a client-chosen device id alone proves nothing, so without either
the start is refused (``device_in_use``) instead of silently ending another player.

The lease is the gate for playback: tokens and media links live minutes
(``Settings.media_link_ttl_s``) and are renewed only by a heartbeat that still holds the
lease, which also records the new link expiry in the session (the license proxy bounds
license durations by it). A player that vanishes stops renewing and its lease expires by
itself; an ended or replaced session gets no renewal, so its links die within one lifetime.

Keys (``<p>`` is the prefix, ``rf:`` by default)::

    <p>leases:<account>            ZSET device -> lease expiry (ms)
    <p>owner:<n>:<account>:<device>
                                   session id holding that device's lease (PX lease TTL);
                                   <n> is the account's length in UTF-8 bytes, so an
                                   account or device holding ':' cannot name another
                                   pair's key ("a:b" + "c" and "a" + "b:c" differ)
    <p>session:<session id>        session JSON (PX lease TTL, renewed by heartbeats)
    <p>resume:<account>            HASH title -> last position (s): a cache of the catalog's
                                   viewing_progress, so starting playback reads no database

Each transition is one Lua script, so two players racing for the last stream cannot both
get it.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from dataclasses import dataclass, replace
from typing import Any, cast

from redis.asyncio import Redis

from reelflow.domain.track_classes import pixel_limit
from reelflow.playback_api.auth.revocation import Guard, guarded, run_guarded
from reelflow.playback_api.delivery.bandwidth_hint import hint_from_stored, hint_key
from reelflow.playback_api.http.problems import Problem

# A lease held by this very session is taken again, not over: a repeated idempotent start
# (delivery/idempotency.py) reuses its first attempt's session id.
_START = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZSCORE', KEYS[1], ARGV[4]) then
  local holder = redis.call('GET', KEYS[2])
  if holder and ARGV[10] ~= '1' and holder ~= ARGV[9] and holder ~= ARGV[5] then
    return {-1, ''}
  end
elseif redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
  return {0, ''}
end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[7])
redis.call('SET', KEYS[2], ARGV[5], 'PX', ARGV[7])
redis.call('SET', KEYS[3], ARGV[6], 'PX', ARGV[7])
return {1, redis.call('HGET', KEYS[4], ARGV[8]) or '', redis.call('GET', KEYS[5]) or ''}
"""

# The renewed session (its new link expiry) replaces the stored one in the same step that
# checks the lease is still this session's.
_HEARTBEAT = """
if redis.call('EXISTS', KEYS[3]) == 0 then return -1 end
if redis.call('GET', KEYS[2]) ~= ARGV[3] then return -2 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call('PEXPIRE', KEYS[2], ARGV[5])
redis.call('SET', KEYS[3], ARGV[9], 'PX', ARGV[5])
redis.call('HSET', KEYS[4], ARGV[6], ARGV[7])
redis.call('EXPIRE', KEYS[4], ARGV[8])
return 1
"""

_END = """
redis.call('DEL', KEYS[3])
if redis.call('GET', KEYS[2]) == ARGV[1] then
  redis.call('DEL', KEYS[2])
  redis.call('ZREM', KEYS[1], ARGV[2])
end
return 1
"""

# License path: the live session and its rate counter in one round trip.
# A session whose device lease was taken over by a newer session of the same device is dead
# too (its owner key names the newer one); the owner key is derived from the session itself,
# spelled as owner_key spells it (#a is the byte length, as len(account.encode()) is).
# The one rule for "this session is alive" (license path and media origin): ``s`` is its
# JSON, or false for an ended, lapsed or replaced session. ARGV[1] is the key prefix.
_LIVE_SESSION = """
local s = redis.call('GET', KEYS[1])
if s then
  local d = cjson.decode(s)
  local a = d['account']
  local owner = redis.call('GET', ARGV[1] .. 'owner:' .. #a .. ':' .. a .. ':' .. d['device_id'])
  if owner ~= d['session_id'] then s = false end
end
"""
_SESSION_AND_RATE = (
    _LIVE_SESSION
    + """
if not s then return {0, 0} end
local n = redis.call('INCR', KEYS[2])
if n == 1 then redis.call('EXPIRE', KEYS[2], ARGV[2]) end
return {s, n}
"""
)
_IS_LIVE = _LIVE_SESSION + "\nif s then return 1 end\nreturn 0\n"

_RATE = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return n
"""


@dataclass(frozen=True)
class PlaybackSession:
    session_id: str
    account: str
    device_id: str
    title_id: str
    version: int  # package version
    version_dir: str  # "v1": the <version> part of media paths
    plan: str
    country: str
    max_height: int  # the tallest rendition within max_pixels (for the player and events)
    key_classes: tuple[str, ...]  # TrackClass values
    drm: tuple[str, ...]
    # Token and media-link expiry (unix s): minutes ahead, moved on by every heartbeat.
    expires_at: int

    @property
    def max_pixels(self) -> int:
        """The largest picture the session plays: the top of its key classes. The plan's cap
        is the top of the plan's classes and the key policy only removes classes, so this is
        both (and sessions stored before it need nothing new)."""
        return pixel_limit(self.key_classes)

    def to_json(self) -> str:
        # The fields as they are (flat: str, int, tuples of str); asdict's deep copy of each
        # cost a playback start ~5% of its time.
        return json.dumps(vars(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str | bytes) -> PlaybackSession:
        data: dict[str, Any] = json.loads(raw)
        data["key_classes"] = tuple(data["key_classes"])
        data["drm"] = tuple(data["drm"])
        return cls(**data)


RESUME_CACHE_S = 30 * 24 * 3600


# The shape new_session_id makes; every route taking a session id in its path or body
# validates against this one pattern.
SESSION_ID_RE = re.compile(r"^s[0-9a-f]{32}$")


def new_session_id() -> str:
    # Starts with a letter so it matches signing.ID_RE.
    return "s" + secrets.token_hex(16)


def owner_key(prefix: str, account: str, device: str) -> str:
    """The key naming the session that holds a device's lease (see the module docstring)."""
    return f"{prefix}owner:{len(account.encode())}:{account}:{device}"


class SessionStore:
    def __init__(self, redis: Redis, *, lease_ttl_s: int, prefix: str = "rf:") -> None:
        self.redis = redis
        self.lease_ttl_ms = lease_ttl_s * 1000
        self.prefix = prefix
        self._start = redis.register_script(_START)
        self._heartbeat = redis.register_script(_HEARTBEAT)
        self._end = redis.register_script(_END)
        self._rate = redis.register_script(_RATE)
        # The hot paths' one round trip: the token's revocation checked in the same script.
        self._guarded_rate = redis.register_script(guarded(_RATE))
        self._session_and_rate = redis.register_script(guarded(_SESSION_AND_RATE))
        self._is_live = redis.register_script(_IS_LIVE)

    def _keys(self, account: str, device: str, session_id: str) -> list[str]:
        p = self.prefix
        return [
            f"{p}leases:{account}",
            owner_key(p, account, device),
            f"{p}session:{session_id}",
        ]

    async def start(
        self,
        session: PlaybackSession,
        max_streams: int,
        *,
        device_bound: bool = False,
        replaces: str | None = None,
    ) -> tuple[float | None, float | None]:
        """Take a lease for the session's device, or raise too_many_streams (409).

        A device holding a live lease is taken over only if ``device_bound`` (the identity
        provider named it) or ``replaces`` is the session holding it; else device_in_use
        (409). Returns the cached last position of the title for the account and the
        device's bandwidth hint (bandwidth_hint.py), each None when there is none: read in
        the same round trip."""
        now = int(time.time() * 1000)
        # {1, resume, hint} once the lease is taken; a refusal is {-1 or 0, ''}.
        ok, *read = await self._start(
            keys=[
                *self._keys(session.account, session.device_id, session.session_id),
                self._resume_key(session.account),
                hint_key(self.prefix, session.account, session.device_id),
            ],
            args=[
                now,
                now + self.lease_ttl_ms,
                max_streams,
                session.device_id,
                session.session_id,
                session.to_json(),
                self.lease_ttl_ms,
                session.title_id,
                replaces or "",
                "1" if device_bound else "0",
            ],
        )
        if int(ok) == -1:
            raise Problem(
                "device_in_use",
                f"device {session.device_id!r} is playing another session; to replace it, "
                "send that session's id as takeover_session_id, or stop it first",
            )
        if int(ok) != 1:
            raise Problem(
                "too_many_streams",
                f"your plan allows {max_streams} stream(s) at once; stop one to start another",
                max_streams=max_streams,
            )
        resume, hint = read
        return (float(resume) if resume not in (b"", "") else None), hint_from_stored(hint)

    def _resume_key(self, account: str) -> str:
        return f"{self.prefix}resume:{account}"

    async def cache_resume(self, account: str, title_id: str, position_s: float) -> None:
        key = self._resume_key(account)
        await self.redis.hset(key, title_id, repr(float(position_s)))
        await self.redis.expire(key, RESUME_CACHE_S)

    async def get(self, session_id: str) -> PlaybackSession | None:
        raw = await self.redis.get(f"{self.prefix}session:{session_id}")
        return PlaybackSession.from_json(cast(bytes, raw)) if raw is not None else None

    async def require(self, session_id: str, account: str | None = None) -> PlaybackSession:
        """The live session, or session_expired (410); another account's is not_found."""
        session = await self.get(session_id)
        if session is None:
            raise Problem("session_expired", "this playback session has ended; start again")
        if account is not None and session.account != account:
            raise Problem("not_found", "no such playback session")
        return session

    async def require_within_rate(
        self, session_id: str, limit: int, guard: Guard, window_s: int = 60
    ) -> PlaybackSession:
        """The live session (410 otherwise), counted against its per-window request limit,
        once ``guard``'s token is known not revoked (401): one round trip."""
        window = int(time.time()) // window_s
        raw, count = await run_guarded(
            self._session_and_rate,
            guard,
            [f"{self.prefix}session:{session_id}", f"{self.prefix}rl:lic:{session_id}:{window}"],
            [self.prefix, window_s * 2],
        )
        if raw == 0:
            raise Problem("session_expired", "this playback session has ended; start again")
        if int(count) > limit:
            raise rate_limited(limit, window_s)
        return PlaybackSession.from_json(raw)

    async def is_live(self, session_id: str) -> bool:
        """Whether the session holds its device's lease (not ended, lapsed or replaced)."""
        keys = [f"{self.prefix}session:{session_id}"]
        return int(await self._is_live(keys=keys, args=[self.prefix])) == 1

    async def heartbeat(
        self, session: PlaybackSession, position_s: float, expires_at: int
    ) -> PlaybackSession:
        """Renew the lease, move the session's link expiry to ``expires_at`` and cache the
        resume position; 410 if the session ended, lapsed or lost its device's lease."""
        renewed = replace(session, expires_at=expires_at)
        now = int(time.time() * 1000)
        result = int(
            await self._heartbeat(
                keys=[
                    *self._keys(session.account, session.device_id, session.session_id),
                    self._resume_key(session.account),
                ],
                args=[
                    now,
                    now + self.lease_ttl_ms,
                    session.session_id,
                    session.device_id,
                    self.lease_ttl_ms,
                    session.title_id,
                    repr(float(position_s)),
                    RESUME_CACHE_S,
                    renewed.to_json(),
                ],
            )
        )
        if result == -1:
            raise Problem("session_expired", "this playback session has ended; start again")
        if result == -2:
            raise Problem(
                "session_expired",
                "this device started another playback session, which replaced this one",
            )
        return renewed

    async def end(self, session: PlaybackSession) -> None:
        await self._end(
            keys=self._keys(session.account, session.device_id, session.session_id),
            args=[session.session_id, session.device_id],
        )

    async def count_active_leases(self, limit: int = 100_000) -> int:
        """Every live lease across accounts (for /metrics); bounded SCAN, not KEYS."""
        now = int(time.time() * 1000)
        total = seen = 0
        async for key in self.redis.scan_iter(match=f"{self.prefix}leases:*", count=500):
            total += int(await self.redis.zcount(key, now, "+inf"))
            seen += 1
            if seen >= limit:
                break
        return total

    async def hit_rate_limit(
        self, bucket: str, limit: int, window_s: int = 60, *, guard: Guard | None = None
    ) -> None:
        """Fixed-window counter; raises rate_limited (429) past ``limit`` per window. With a
        ``guard``, a revoked token is refused (401) first, in the same round trip."""
        key = self.rate_key(bucket, window_s)
        if guard is None:
            n = int(await self._rate(keys=[key], args=[window_s * 2]))
        else:
            n = int(await run_guarded(self._guarded_rate, guard, [key], [window_s * 2]))
        if n > limit:
            raise rate_limited(limit, window_s)

    def rate_key(self, bucket: str, window_s: int = 60) -> str:
        """The counter of ``bucket`` for the current window (counted by ``hit_rate_limit``,
        or inside another script, e.g. the events ingest's, as ``_RATE`` counts it)."""
        return f"{self.prefix}rl:{bucket}:{int(time.time()) // window_s}"


def rate_limited(limit: int, window_s: int) -> Problem:
    retry = window_s - int(time.time()) % window_s
    return Problem(
        "rate_limited",
        f"more than {limit} requests in {window_s} s",
        headers={"Retry-After": str(retry)},
    )
