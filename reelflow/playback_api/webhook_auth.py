"""Inbound studio signatures: ``Reelflow-Signature: t=<unix>,v1=<hex>`` over the raw body.

The same shape as the notifications reelflow sends studios (``reelflow.jobs.webhooks``):
``v1`` is hex HMAC-SHA256 under the studio's webhook secret over ``f"{t}."`` followed by
the exact request bytes. Several ``v1=`` entries may be given (any may match) so a studio
can sign with its old and new secret while a rotation rolls out.

Refusals: a missing, malformed or non-matching header is ``bad_signature`` (401). An
authentic signature whose ``t`` is more than five minutes from now (either way), or a
delivery already seen, is ``replayed_request`` (409). The signature is checked before the
timestamp, so nobody without the secret learns anything from the choice of refusal.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import RedisError

from reelflow.jobs.webhooks import SIGNATURE_HEADER, sign_payload
from reelflow.playback_api.problems import Problem

__all__ = [
    "REPLAY_TTL_S",
    "SIGNATURE_HEADER",
    "TOLERANCE_S",
    "forget_delivery",
    "parse_signature",
    "remember_delivery",
    "replay_key",
    "verify_signature",
]

TOLERANCE_S = 300
# Twice the tolerance: a `t` up to 300 s ahead stays acceptable until 300 s after it, so
# a delivery must be remembered for 600 s after it is first seen; older ones are refused
# by the timestamp check alone.
REPLAY_TTL_S = 2 * TOLERANCE_S
MAX_HEADER_CHARS = 1024
MAX_SIGNATURES = 8
_HEX_MAC = re.compile(r"[0-9a-f]{64}")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_REPLAY_PREFIX = "reelflow:studio-ingest:seen:"


@dataclass(frozen=True, repr=False)
class ParsedSignature:
    timestamp: int
    signatures: tuple[str, ...]

    def __repr__(self) -> str:  # signatures stay out of logs and tracebacks
        return f"ParsedSignature(timestamp={self.timestamp}, signatures=<{len(self.signatures)}>)"


def _bad(detail: str) -> Problem:
    return Problem("bad_signature", detail)


def parse_signature(header: str | None) -> ParsedSignature:
    """Split the header into its timestamp and candidate MACs (bad_signature if malformed)."""
    if not header:
        raise _bad(f"a {SIGNATURE_HEADER} header is required")
    if len(header) > MAX_HEADER_CHARS:
        raise _bad(f"the {SIGNATURE_HEADER} header is too long")
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            raise _bad(f"the {SIGNATURE_HEADER} header must look like t=<unix>,v1=<hex>")
        if key == "t":
            if timestamp is not None or not _TIMESTAMP.fullmatch(value):
                raise _bad("the signature needs exactly one t=<unix seconds>")
            timestamp = int(value)
        elif key == "v1":
            value = value.lower()
            if not _HEX_MAC.fullmatch(value):
                raise _bad("a v1 signature must be 64 hex characters (HMAC-SHA256)")
            candidates.append(value)
        # Other schemes (v0=, future v2=) are ignored, as receivers of our own webhooks do.
    if timestamp is None:
        raise _bad("the signature needs exactly one t=<unix seconds>")
    if not candidates:
        raise _bad("the signature has no v1=<hex> entry")
    if len(candidates) > MAX_SIGNATURES:
        raise _bad(f"at most {MAX_SIGNATURES} v1 signatures are accepted")
    return ParsedSignature(timestamp, tuple(candidates))


def verify_signature(
    secrets: Sequence[bytes],
    header: str | None,
    body: bytes,
    *,
    now: float,
    tolerance_s: float = TOLERANCE_S,
) -> int:
    """Check `header` against `body` under any of `secrets`; returns the signed timestamp.

    Raises Problem bad_signature (no candidate matches) or replayed_request (authentic but
    outside the tolerance, in either direction).
    """
    parsed = parse_signature(header)
    matched = False
    for secret in secrets:
        expected = sign_payload(secret, body, parsed.timestamp).rpartition("v1=")[2]
        for candidate in parsed.signatures:
            # Every pair is compared (no early exit) so timing does not tell which matched.
            matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        raise _bad("the signature does not match the body under this studio's webhook secret")
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
