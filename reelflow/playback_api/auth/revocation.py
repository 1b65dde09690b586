"""Revoked viewer tokens, held in Redis: single token ids (``jti``) and per-account
"not before" times (every token of the account issued at or before it).

Keys (``<p>`` is the sessions prefix, ``rf:`` by default), each expiring after the longest
token lifetime the API accepts (``auth_max_token_lifetime_s``), when every token it could
refuse has expired anyway::

    <p>revoked:jti:<jti>          "1"
    <p>revoked:before:<account>   unix seconds

Checked on every authenticated request after the verifier's claims cache (one MGET), so a
revocation takes effect at once in every API process. Redis down is a 503, never a pass.
"""

from __future__ import annotations

import time
from typing import cast

from redis.asyncio import Redis

from reelflow.playback_api.auth.auth import Viewer
from reelflow.playback_api.http.problems import Problem


class Revocations:
    def __init__(self, redis: Redis, *, ttl_s: int, prefix: str = "rf:") -> None:
        self.redis = redis
        self.ttl_s = ttl_s
        self.prefix = prefix

    def _jti_key(self, jti: str) -> str:
        return f"{self.prefix}revoked:jti:{jti}"

    def _account_key(self, account: str) -> str:
        return f"{self.prefix}revoked:before:{account}"

    async def check(self, viewer: Viewer) -> None:
        """Raise invalid_token (401) if the token or every token of its account is revoked."""
        keys = [self._account_key(viewer.sub)]
        if viewer.jti is not None:
            keys.append(self._jti_key(viewer.jti))
        values = cast(list[bytes | None], await self.redis.mget(keys))
        before = values[0]
        # A token without iat cannot show it came after a revoke-all: refused (fail closed).
        if before is not None and (viewer.iat is None or viewer.iat <= int(before)):
            raise Problem("invalid_token", "this account's tokens were revoked; sign in again")
        if len(values) > 1 and values[1] is not None:
            raise Problem("invalid_token", "this token was revoked")

    async def revoke_token(self, jti: str) -> None:
        await self.redis.set(self._jti_key(jti), b"1", ex=self.ttl_s)

    async def revoke_account(self, account: str, now: float | None = None) -> int:
        """Refuse every token of the account issued up to now (same second included, as
        ``iat`` has whole seconds); returns that time."""
        at = int(time.time() if now is None else now)
        await self.redis.set(self._account_key(account), str(at).encode(), ex=self.ttl_s)
        return at
