"""A viewer's last measured bandwidth, handed back at the next playback start.

Players put their ABR estimate in QoE beacons (``bandwidth_kbps``); while the beacon's
session is live, the newest one is kept per account and device for ``HINT_TTL_S``, and
``POST /v1/titles/{id}/playback`` returns it as ``bandwidth_hint_kbps`` (absent when there
is none). The player starts its ABR from it instead of a blind default.

Scoping: the key names the account and the device of the live session the beacon belongs
to (the route checks the session is the caller's), so one viewer's figure never reaches
another account, nor another device of the same account (a phone on 3G and a TV on fibre
share an account). The value is a hint: out-of-range beacons are refused by the beacon's
schema, values kept are clamped to [HINT_MIN_KBPS, HINT_MAX_KBPS], and anything unreadable
in Redis reads as no hint.

Key (``<p>`` is the sessions prefix)::

    <p>bw:<n>:<account>:<device>   kb/s as a decimal string (EX HINT_TTL_S); <n> is the
                                   account's length in UTF-8 bytes, as in owner keys
"""

from __future__ import annotations

import math

from redis.asyncio import Redis

HINT_TTL_S = 7 * 24 * 3600
HINT_MIN_KBPS = 100.0
HINT_MAX_KBPS = 100_000.0  # 100 Mb/s: more buys nothing for choosing a first rung
# What a beacon may claim at all (10 Gb/s); more is a broken or hostile player: 422.
BEACON_MAX_KBPS = 10_000_000.0


def hint_key(prefix: str, account: str, device: str) -> str:
    return f"{prefix}bw:{len(account.encode())}:{account}:{device}"


def clamp_kbps(value: float) -> float | None:
    """The value as a hint, or None when it is no usable number."""
    if not math.isfinite(value) or value <= 0:
        return None
    return min(max(value, HINT_MIN_KBPS), HINT_MAX_KBPS)


async def remember(redis: Redis, prefix: str, account: str, device: str, kbps: float) -> None:
    value = clamp_kbps(kbps)
    if value is not None:
        await redis.set(hint_key(prefix, account, device), f"{value:.0f}", ex=HINT_TTL_S)


async def recall(redis: Redis, prefix: str, account: str, device: str) -> float | None:
    return hint_from_stored(await redis.get(hint_key(prefix, account, device)))


def hint_from_stored(raw: bytes | str | None) -> float | None:
    """The hint a stored value gives (the playback start reads it inside its lease script,
    sessions.py); None for none or anything unreadable."""
    if not raw:
        return None
    try:
        return clamp_kbps(float(raw))
    except (TypeError, ValueError):
        return None
