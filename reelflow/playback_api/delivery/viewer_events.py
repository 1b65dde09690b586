"""The API's side of the viewer event log: who a caller is in it, and appending to it.

The account never reaches the log: events carry its pseudonym (events/pseudonym.py) under
a key derived once from the signing secret the API started with (the one its tokens and
links are checked with; a new secret takes a restart, as it does for them).

Appending is one Redis round trip: a Lua script that may first refuse a revoked token and
count the request against the account's rate limit (a ``Gate``: POST /v1/events saves its
own round trips so), then reads the account's consent mirror (events/consent.py) and
appends, one stream entry per event, what the consent allows: the events as sent
(consented), or the anonymised operational ones (opted out). The caller encodes both sets,
since it does not know the consent before the script reads it. On a mirror miss the script
appends nothing and says so; the caller reads the catalog, refills the mirror and runs the
script again with the consent given (once per account and mirror lifetime). No other
command runs between the script's, so a batch's entries are adjacent in the stream; a
script that fails part-way (an XADD refused, e.g. the stream key holding another type)
keeps what it did before, and the 503 makes the player send the batch again, which the
queries' deduplication by id absorbs, as for any resend.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from functools import cache
from string import Template

from redis.exceptions import NoScriptError, RedisError

from reelflow.events.consent import MIRROR_VALUES, mirror_key
from reelflow.events.log import ENTRY_FIELD, STREAM
from reelflow.events.pseudonym import pseudonym_key, viewer_pseudonym
from reelflow.events.schema import Context
from reelflow.playback_api.auth.auth import Viewer
from reelflow.playback_api.auth.revocation import REVOKED_LUA
from reelflow.playback_api.http.context import ApiContext
from reelflow.playback_api.http.problems import Problem

# KEYS: [1] the stream, [2] the consent mirror, [3] the rate counter, [4] and [5] the
# revocation keys (auth/revocation.py); 3 to 5 are '' without a gate.
# ARGV: [1] '1' to check the gate, [2] the token's iat ('' for none), [3] the rate limit,
# [4] the counter's TTL, [5] the consent when the caller knows it ('1'/'0'; '' = read the
# mirror), [6] the deployment's default ('1'/'0'), [7] the consented entries and [8] the
# anonymised ones, each set as JSON Lines: one argument rather than one per event costs
# the client a fifth of the packing, and an entry's JSON never holds a raw newline.
# The counter counts as sessions.py's _RATE does: INCR, its TTL set by the window's first.
# The mirror's values and the entry field are written in from their modules' constants.
# Answers {status, detail}: see ``Status``.
_APPEND_BODY = """
if ARGV[1] == '1' then
  local verdict = revoked(KEYS[4], KEYS[5], ARGV[2])
  if verdict ~= 0 then return {-2, verdict} end
  local n = redis.call('INCR', KEYS[3])
  if n == 1 then redis.call('EXPIRE', KEYS[3], ARGV[4]) end
  if n > tonumber(ARGV[3]) then return {-1, n} end
end
local consent = ARGV[5]
if consent == '' then
  local m = redis.call('GET', KEYS[2])
  if m == $yes then consent = '1'
  elseif m == $no then consent = '0'
  elseif m == $no_choice then consent = ARGV[6]
  else return {0, 0} end
end
local lines = ARGV[7]
if consent ~= '1' then lines = ARGV[8] end
local appended = 0
for entry in string.gmatch(lines, '[^\\n]+') do
  redis.call('XADD', KEYS[1], '*', $field, entry)
  appended = appended + 1
end
if consent == '1' then return {1, appended} end
return {2, appended}
"""


def _lua_string(value: str | bytes) -> str:
    text = value.decode() if isinstance(value, bytes) else value
    if not re.fullmatch(r"[A-Za-z0-9_:-]+", text):  # nothing to escape, by construction
        raise ValueError(f"not a plain Lua string: {text!r}")
    return f"'{text}'"


_APPEND = REVOKED_LUA + Template(_APPEND_BODY).substitute(
    yes=_lua_string(MIRROR_VALUES[True]),
    no=_lua_string(MIRROR_VALUES[False]),
    no_choice=_lua_string(MIRROR_VALUES[None]),
    field=_lua_string(ENTRY_FIELD),
)
_APPEND_SHA = hashlib.sha1(_APPEND.encode()).hexdigest()


class Status(IntEnum):
    REVOKED = -2  # detail: revocation.ACCOUNT_REVOKED or TOKEN_REVOKED
    RATE_LIMITED = -1  # detail: the window's count
    CONSENT_UNKNOWN = 0  # the mirror holds nothing: nothing appended
    CONSENTED = 1  # detail: entries appended, the consented ones
    ANONYMISED = 2  # detail: entries appended, the anonymised ones


@dataclass(frozen=True)
class Appended:
    """What the append script did."""

    status: Status
    detail: int


@dataclass(frozen=True)
class Gate:
    """What the script checks before anything else, in this order: the token's revocation,
    then the request against a fixed-window rate limit (sessions.rate_key)."""

    revocation_keys: list[str]  # account, jti ('' for none)
    iat: str
    rate_key: str
    limit: int
    window_s: int


def gate(ctx: ApiContext, viewer: Viewer, bucket: str, limit: int, window_s: int = 60) -> Gate:
    keys, (iat,) = ctx.revocations.lua_inputs(viewer)
    return Gate(keys, iat, ctx.sessions.rate_key(bucket, window_s), limit, window_s)


@cache
def _key(signing_secret: bytes) -> bytes:
    return pseudonym_key(signing_secret)


def viewer_context(ctx: ApiContext, viewer: Viewer) -> Context:
    """What every event of this caller carries: the pseudonym, country, plan, device."""
    return Context(
        viewer=viewer_pseudonym(_key(ctx.signing_secret), viewer.sub),
        country=viewer.country,
        plan=viewer.plan,
        device=viewer.device,
    )


async def append_entries(
    ctx: ApiContext,
    account: str,
    consented: Sequence[bytes],
    anonymised: Sequence[bytes],
    *,
    consent: bool | None = None,
    checks: Gate | None = None,
) -> Appended:
    """Run the append script (see the module); a Redis that cannot take it is a 503
    problem, never a lost event (the player sends the batch again)."""
    revocation = checks.revocation_keys if checks else ["", ""]
    keys = (STREAM, mirror_key(account), checks.rate_key if checks else "", *revocation)
    args = (
        "1" if checks else "",
        checks.iat if checks else "",
        checks.limit if checks else 0,
        checks.window_s * 2 if checks else 0,
        "" if consent is None else ("1" if consent else "0"),
        "1" if ctx.settings.analytics_consent_default else "0",
        b"\n".join(consented),
        b"\n".join(anonymised),
    )
    try:
        try:
            answer = await ctx.redis.evalsha(_APPEND_SHA, len(keys), *keys, *args)
        except NoScriptError:  # a restarted or flushed Redis: load it once, then as before
            await ctx.redis.script_load(_APPEND)
            answer = await ctx.redis.evalsha(_APPEND_SHA, len(keys), *keys, *args)
    except RedisError as exc:
        raise Problem("service_unavailable", "the event log is not reachable") from exc
    status, detail = answer
    return Appended(Status(int(status)), int(detail))
