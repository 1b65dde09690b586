"""Revoked viewer tokens, held in Redis: single token ids (``jti``) and per-account
"not before" times (every token of the account issued at or before it).

Keys (``<p>`` is the sessions prefix, ``rf:`` by default), each expiring after the longest
token lifetime the API accepts (``auth_max_token_lifetime_s``), when every token it could
refuse has expired anyway::

    <p>revoked:jti:<jti>          "1"
    <p>revoked:before:<account>   unix seconds

Checked on every authenticated request after the verifier's claims cache (one round trip),
so a revocation takes effect at once in every API process. Redis down is a 503, never a
pass. The rule is written once, in Lua (``REVOKED_LUA``): ``check`` runs it, and a script
that must refuse a revoked token before its own work includes it, so that request costs no
round trip of its own: the events ingest (delivery/viewer_events.py) by hand, and any other
script through ``guarded`` (the license's session read, the playback start's rate limit).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import ResponseError

from reelflow.playback_api.auth.auth import Viewer
from reelflow.playback_api.http.problems import Problem

# revoked(account key, jti key or '', iat or ''): 0 when the token stands, ACCOUNT_REVOKED
# when its account's tokens up to a time at or after its iat were revoked (a token without
# iat cannot show it came after a revoke-all: refused, fail closed), TOKEN_REVOKED when its
# own id was.
REVOKED_LUA = """
local function revoked(account_key, jti_key, iat)
  local before = redis.call('GET', account_key)
  if before and (iat == '' or tonumber(iat) <= tonumber(before)) then return 1 end
  if jti_key ~= '' and redis.call('EXISTS', jti_key) == 1 then return 2 end
  return 0
end
"""
ACCOUNT_REVOKED, TOKEN_REVOKED = 1, 2
_CHECK = REVOKED_LUA + "return revoked(KEYS[1], KEYS[2], ARGV[1])"
# A guarded script's own KEYS and ARGV come first and the token's revocation inputs last
# (two keys, one argument), so a script takes the check without renumbering its own; a
# revoked token ends it before its first command with an error reply (any answer shape of
# the script's own stays free), read back by ``run_guarded``.
_REVOKED_REPLY = "REVOKED"
_GUARD = f"""
local verdict = revoked(KEYS[#KEYS - 1], KEYS[#KEYS], ARGV[#ARGV])
if verdict ~= 0 then return redis.error_reply('{_REVOKED_REPLY} ' .. verdict) end
"""


def guarded(body: str) -> str:
    """``body``, a Lua script, refusing a revoked token first (run it with ``run_guarded``)."""
    return REVOKED_LUA + _GUARD + body


@dataclass(frozen=True)
class Guard:
    """A token's revocation inputs, for a guarded script (``Revocations.guard``)."""

    keys: tuple[str, str]  # account, jti ('' for none)
    iat: str  # '' for none


async def run_guarded(script: AsyncScript, guard: Guard, keys: list[str], args: list[Any]) -> Any:
    """Run a script built by ``guarded``: its answer, or the 401 of a revoked token."""
    try:
        return await script(keys=[*keys, *guard.keys], args=[*args, guard.iat])
    except ResponseError as exc:
        kind, _, verdict = str(exc).partition(" ")
        problem = refusal(int(verdict)) if kind == _REVOKED_REPLY and verdict.isdigit() else None
        if problem is None:
            raise
        raise problem from None


def refusal(verdict: int) -> Problem | None:
    """The 401 problem for what ``revoked`` answered, or None for a token that stands."""
    if verdict == ACCOUNT_REVOKED:
        return Problem("invalid_token", "this account's tokens were revoked; sign in again")
    if verdict == TOKEN_REVOKED:
        return Problem("invalid_token", "this token was revoked")
    return None


class Revocations:
    def __init__(self, redis: Redis, *, ttl_s: int, prefix: str = "rf:") -> None:
        self.redis = redis
        self.ttl_s = ttl_s
        self.prefix = prefix
        self._check = redis.register_script(_CHECK)

    def _jti_key(self, jti: str) -> str:
        return f"{self.prefix}revoked:jti:{jti}"

    def _account_key(self, account: str) -> str:
        return f"{self.prefix}revoked:before:{account}"

    def lua_inputs(self, viewer: Viewer) -> tuple[list[str], list[str]]:
        """``revoked``'s keys (account, jti) and argument (iat) for this viewer's token."""
        jti = self._jti_key(viewer.jti) if viewer.jti is not None else ""
        iat = str(viewer.iat) if viewer.iat is not None else ""
        return [self._account_key(viewer.sub), jti], [iat]

    def guard(self, viewer: Viewer) -> Guard:
        """This viewer's token as a guarded script checks it (``run_guarded``)."""
        (account, jti), (iat,) = self.lua_inputs(viewer)
        return Guard((account, jti), iat)

    async def check(self, viewer: Viewer) -> None:
        """Raise invalid_token (401) if the token or every token of its account is revoked."""
        keys, args = self.lua_inputs(viewer)
        problem = refusal(int(await self._check(keys=keys, args=args)))
        if problem is not None:
            raise problem

    async def revoke_token(self, jti: str) -> None:
        await self.redis.set(self._jti_key(jti), b"1", ex=self.ttl_s)

    async def revoke_account(self, account: str, now: float | None = None) -> int:
        """Refuse every token of the account issued up to now (same second included, as
        ``iat`` has whole seconds); returns that time."""
        at = int(time.time() if now is None else now)
        await self.redis.set(self._account_key(account), str(at).encode(), ex=self.ttl_s)
        return at
