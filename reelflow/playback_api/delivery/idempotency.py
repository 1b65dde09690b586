"""Idempotent playback starts: a start sent again with the same ``Idempotency-Key`` by the same
viewer answers the same session, so the edge (or the player) may retry a start whose replica
died mid-request without the viewer getting a second session or a ``device_in_use``.

The first start with a key claims it in Redis for ``playback_idempotency_s`` with the
request's fingerprint (title and body) and the session id it will use. A repeat:

- with another fingerprint is refused (422 ``idempotency_conflict``): a key names one start;
- after the first answered, gets that answer again (``Idempotent-Replayed: true``);
- while the first has not answered (still running, or its replica died) runs the start
  again under the claimed session id: the lease script lets a session take its own
  device's lease again, so the repeat ends in the same session as the first, whichever
  finishes. A start that failed stores no answer: its repeat is judged afresh.

Keys are scoped to the viewer (the token's subject): another account's key never matches.

    <p>idem:start:<n>:<account>:<sha256(key)>   JSON {fp, sid[, answer]} (PX the window)
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from reelflow.playback_api.delivery.sessions import new_session_id
from reelflow.playback_api.http.problems import Problem

if TYPE_CHECKING:
    from reelflow.playback_api.http.context import ApiContext

HEADER = "idempotency-key"
REPLAYED = {"Idempotent-Replayed": "true"}
# Visible ASCII, as the IETF draft's examples (UUIDs, random tokens) all are.
KEY_RE = re.compile(r"^[\x21-\x7e]{1,255}$")
# The header in the OpenAPI document of the routes that honour it.
HEADER_DOC = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "repeats of this start (same viewer, same body) within the window "
    "answer the same session; another body under the same key is a 422",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
}

# Claim the key unless it is claimed; either way, the record now under it.
_CLAIM = """
local ok = redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2])
if ok then return ARGV[1] end
return redis.call('GET', KEYS[1])
"""

# Store the answer under a claim this start still matches (not one that expired and was
# claimed again by another body in between).
_ANSWER = """
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
if cjson.decode(raw)['fp'] ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
return 1
"""


@dataclass(frozen=True)
class StartClaim:
    """The session id a start uses; ``answer`` is set when an earlier one already answered."""

    session_id: str
    redis_key: str | None = None  # None: the start carried no key
    fingerprint: str = ""
    answer: dict[str, Any] | None = None


def claim_key(prefix: str, account: str, key: str) -> str:
    digest = hashlib.sha256(key.encode()).hexdigest()
    return f"{prefix}idem:start:{len(account.encode())}:{account}:{digest}"


async def claim_start(
    ctx: ApiContext, account: str, headers: Mapping[str, str], title_id: str, body: BaseModel
) -> StartClaim:
    """The claim of a start with an Idempotency-Key among ``headers`` (without one: an
    ordinary start, a new session id). Two starts are the same one when their title and
    parsed body are (so a repeat need not spell its JSON byte for byte the same)."""
    key = headers.get(HEADER)
    if key is None:
        return StartClaim(new_session_id())
    if not KEY_RE.match(key):
        raise Problem(
            "validation_error",
            "Idempotency-Key must be 1 to 255 visible ASCII characters",
            errors=[{"loc": ["header", "Idempotency-Key"], "msg": "invalid", "type": "value"}],
        )
    request = f"{title_id} {body.model_dump_json()}"
    fingerprint = hashlib.sha256(request.encode()).hexdigest()
    rkey = claim_key(ctx.sessions.prefix, account, key)
    mine = json.dumps({"fp": fingerprint, "sid": new_session_id()})
    window_ms = ctx.settings.playback_idempotency_s * 1000
    record = json.loads(await ctx.redis.eval(_CLAIM, 1, rkey, mine, window_ms))
    if record["fp"] != fingerprint:
        raise Problem(
            "idempotency_conflict",
            "this Idempotency-Key was used for another playback start; use a new key",
        )
    return StartClaim(record["sid"], rkey, fingerprint, record.get("answer"))


async def remember(ctx: ApiContext, claim: StartClaim, answer: dict[str, Any]) -> None:
    """Keep the answer for repeats of this start within the window (no key: nothing)."""
    if claim.redis_key is None:
        return
    record = json.dumps({"fp": claim.fingerprint, "sid": claim.session_id, "answer": answer})
    await ctx.redis.eval(_ANSWER, 1, claim.redis_key, claim.fingerprint, record)
