"""Pseudonymous viewer ids: what the analytics store holds instead of account names.

A keyed hash (HMAC-SHA256 under a secret the analytics store never sees): the same account
always maps to the same id, so histories join, but the id cannot be turned back into the
account, nor guessed from a list of account names without the key. Rotating the key starts
every viewer afresh; erasure and export recompute the id from the account.
"""

from __future__ import annotations

import hashlib
import hmac

PREFIX = "v_"
DIGEST_HEX = 32  # 128 bits: no collision among any realistic number of accounts


def viewer_pseudonym(key: bytes, account: str) -> str:
    if len(key) < 16:
        raise ValueError("the pseudonym key must be at least 16 bytes")
    if not account:
        raise ValueError("account is empty")
    digest = hmac.new(key, account.encode("utf-8"), hashlib.sha256).hexdigest()
    return PREFIX + digest[:DIGEST_HEX]


def pseudonym_key(signing_secret: bytes) -> bytes:
    """The pseudonym key, derived from the deployment's signing secret for one purpose only:
    the analytics store never holds the signing secret, and rotating it starts viewers afresh."""
    return hmac.new(signing_secret, b"reelflow/events/viewer-pseudonym/v1", hashlib.sha256).digest()
