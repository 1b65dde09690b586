"""Inbound studio signatures: the ``Reelflow-Signature`` header checked at ingest.

The header's format, and how it is parsed and matched, live in
``reelflow.studios.signatures`` (shared with the notifications reelflow sends studios).
This module adds what only a receiver needs: the clock tolerance and replay protection.

Refusals: a missing, malformed or non-matching header is ``bad_signature`` (401). An
authentic signature whose ``t`` is more than five minutes from now (either way), or a
delivery already seen, is ``replayed_request`` (409). The signature is checked before the
timestamp, so nobody without the secret learns anything from the choice of refusal.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from contextlib import suppress

from redis.asyncio import Redis
from redis.exceptions import RedisError

from reelflow.playback_api.http.problems import Problem
from reelflow.studios.signatures import MalformedSignature, parse_signature

__all__ = [
    "REPLAY_TTL_S",
    "TOLERANCE_S",
    "forget_delivery",
    "remember_delivery",
    "replay_key",
    "verify_signature",
]

TOLERANCE_S = 300
# Twice the tolerance: a `t` up to 300 s ahead stays acceptable until 300 s after it, so
# a delivery must be remembered for 600 s after it is first seen; older ones are refused
# by the timestamp check alone.
REPLAY_TTL_S = 2 * TOLERANCE_S
_REPLAY_PREFIX = "reelflow:studio-ingest:seen:"


def verify_signature(
    secrets: Sequence[bytes],
    header: str | None,
    body: bytes,
    *,
    now: float,
    tolerance_s: float = TOLERANCE_S,
) -> int:
    """Check `header` against `body` under any of `secrets`; returns the signed timestamp.

    Raises Problem bad_signature (malformed, or no candidate matches) or replayed_request
    (authentic but outside the tolerance, in either direction).
    """
    try:
        parsed = parse_signature(header)
    except MalformedSignature as exc:
        raise Problem("bad_signature", str(exc)) from None
    if not parsed.matches(secrets, body):
        raise Problem(
            "bad_signature",
            "the signature does not match the body under this studio's webhook secret",
        )
    if abs(now - parsed.timestamp) > tolerance_s:
        raise Problem(
            "replayed_request",
            f"the signature's timestamp is more than {int(tolerance_s)} s from the server's "
            "clock: sign each request (or retry) afresh, and keep the clock in sync",
        )
    return parsed.timestamp


def replay_key(studio_id: str, timestamp: int, body: bytes) -> str:
    """The Redis key of one delivery.

    A valid v1 MAC stands for exactly (studio, t, body), so the key is built from those
    rather than from the header text: re-ordering the header, adding a bogus v1 or leaving
    out one of two rotation signatures does not make a replay look new.
    """
    digest = hashlib.sha256(
        f"{studio_id}\x00{timestamp}\x00".encode() + hashlib.sha256(body).digest()
    ).hexdigest()
    return _REPLAY_PREFIX + digest


async def remember_delivery(redis: Redis, key: str) -> None:
    """Mark a delivery as seen (SET NX EX); replayed_request if it already was."""
    try:
        first = await redis.set(key, b"1", nx=True, ex=REPLAY_TTL_S)
    except RedisError as exc:
        # Without the replay store a captured request could be re-sent: refuse instead.
        raise Problem("service_unavailable", "replay protection is unavailable") from exc
    if not first:
        raise Problem(
            "replayed_request",
            "this exact signed request was already received; sign a retry afresh "
            "(with the same Idempotency-Key to get the first answer back)",
        )


async def forget_delivery(redis: Redis, key: str) -> None:
    """Undo `remember_delivery` when the request failed for a reason a retry may not hit."""
    with suppress(RedisError):
        await redis.delete(key)
