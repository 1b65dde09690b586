"""An account's analytics consent: the choice is durable in the catalog and mirrored in
Redis, so the events ingest path reads one Redis key and never the database.

- **Read** (every event batch): the mirror; on a miss, the catalog, and the mirror is
  refilled (only if still absent, so a refill racing a change can never overwrite it). An
  account that never chose is mirrored too ("no choice"), so it costs no query either.
- **Write** (``PUT /v1/me/privacy``, ``reelflow accounts consent``): the mirror key is
  dropped, the catalog row written, then the mirror set. A Redis that is down refuses the
  change before the catalog has it; a mirror write failing after leaves a miss, which reads
  the new row. A change takes effect on the account's next event batch.
- The mirror lapses after ``MIRROR_TTL_S`` so it holds the accounts seen lately; a row
  changed in the database by hand takes effect within that time.

The effective consent is the account's choice, else the deployment's default
(``Settings.analytics_consent_default``), read at each batch, so changing the default
changes every account that never chose.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from redis.asyncio import Redis
from sqlalchemy.engine import Engine

from reelflow.catalog.viewer_privacy import consent_choice, set_consent_choice

KEY_PREFIX = "rf:consent:"
MIRROR_TTL_S = 24 * 3600
# The mirror's values: the account's choice, or that it made none. The API's ingest script
# reads them in Redis itself (playback_api/delivery/viewer_events.py) with the same meaning.
MIRROR_VALUES: dict[bool | None, bytes] = {True: b"1", False: b"0", None: b"-"}
_DECODED = {value: choice for choice, value in MIRROR_VALUES.items()}


@dataclass(frozen=True)
class Consent:
    analytics: bool  # what applies to the account's events now
    is_default: bool  # the account made no choice: the deployment's default applies

    @classmethod
    def of(cls, choice: bool | None, default: bool) -> Consent:
        return cls(analytics=default if choice is None else choice, is_default=choice is None)


def mirror_key(account: str) -> str:
    return KEY_PREFIX + account


async def read_consent(redis: Redis, engine: Engine, account: str, default: bool) -> Consent:
    """The account's consent from the mirror; a miss reads the catalog and refills it."""
    key = mirror_key(account)
    raw = await redis.get(key)
    if raw in _DECODED:
        return Consent.of(_DECODED[raw], default)
    choice = await asyncio.to_thread(consent_choice, engine, account)
    await redis.set(key, MIRROR_VALUES[choice], ex=MIRROR_TTL_S, nx=True)
    return Consent.of(choice, default)


async def write_consent(
    redis: Redis, engine: Engine, account: str, consent: bool, default: bool
) -> Consent:
    """Record the account's choice durably, then in the mirror (see the module's order)."""
    key = mirror_key(account)
    await redis.delete(key)
    await asyncio.to_thread(set_consent_choice, engine, account, consent)
    await redis.set(key, MIRROR_VALUES[consent], ex=MIRROR_TTL_S)
    return Consent.of(consent, default)
