"""Secrets sealed at rest under the master key: one format for content keys and studio secrets.

Format (all big-endian)::

    format | master-key version (4 bytes) | nonce (12 bytes) | AES-256-GCM(ciphertext + tag)

The format byte is 0x01, or 0x02 for a content key whose associated data also binds its
title, version and track class (content_keys.py); callers that bind the format byte into
their associated data cannot have it changed under them.

The caller supplies the associated data (binding a blob to its row: a KID, a studio id),
given the master-key version so it may bind that too. Pure: no settings, no catalog.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

SEAL_FORMAT = 0x01
BOUND_FORMAT = 0x02
KNOWN_FORMATS = frozenset({SEAL_FORMAT, BOUND_FORMAT})
NONCE_BYTES = 12
TAG_BYTES = 16
MASTER_KEY_BYTES = 32
HEADER = struct.Struct(">BI")


class SealError(ValueError):
    """A sealed blob cannot be opened; the caller turns it into its own named error."""


class MalformedSeal(SealError):
    """Too short, or an unknown format byte."""


class UnknownVersion(SealError):
    """The blob names a master-key version that is not configured."""

    def __init__(self, version: int) -> None:
        super().__init__(f"master key version {version} is not configured")
        self.version = version


class OpenFailed(SealError):
    """Wrong master key, wrong associated data (another row) or tampered bytes."""

    def __init__(self, version: int) -> None:
        super().__init__(f"cannot open with master key version {version}")
        self.version = version


def seal(
    plaintext: bytes, *, master_key: bytes, key_version: int, aad: bytes, fmt: int = SEAL_FORMAT
) -> bytes:
    if len(master_key) != MASTER_KEY_BYTES:
        raise ValueError(f"the master key must be {MASTER_KEY_BYTES} bytes")
    if not 0 <= key_version <= 0xFFFFFFFF:
        raise ValueError(f"master key version must fit in 32 bits, got {key_version}")
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(master_key).encrypt(nonce, plaintext, aad)
    if fmt not in KNOWN_FORMATS:
        raise ValueError(f"unknown seal format 0x{fmt:02x}")
    return HEADER.pack(fmt, key_version) + nonce + sealed


def sealed_header(sealed: bytes, *, min_plaintext: int = 0) -> tuple[int, int]:
    """(format byte, master-key version) of a blob."""
    if len(sealed) < HEADER.size + NONCE_BYTES + min_plaintext + TAG_BYTES:
        raise MalformedSeal(f"sealed data is too short ({len(sealed)} bytes)")
    fmt, version = HEADER.unpack_from(sealed)
    if fmt not in KNOWN_FORMATS:
        raise MalformedSeal(f"unknown seal format byte 0x{fmt:02x}")
    return int(fmt), int(version)


def sealed_version(sealed: bytes, *, min_plaintext: int = 0) -> int:
    """The master-key version a blob was sealed under (to skip rows already rotated)."""
    return sealed_header(sealed, min_plaintext=min_plaintext)[1]


def unseal(
    sealed: bytes,
    *,
    master_keys: Mapping[int, bytes],
    aad: Callable[[int], bytes],
    min_plaintext: int = 0,
) -> bytes:
    """Open a blob with the master key of the version it names; ``aad(version)`` as sealed."""
    version = sealed_version(sealed, min_plaintext=min_plaintext)
    master = master_keys.get(version)
    if master is None:
        raise UnknownVersion(version)
    if len(master) != MASTER_KEY_BYTES:
        raise ValueError(f"the master key must be {MASTER_KEY_BYTES} bytes")
    nonce = sealed[HEADER.size : HEADER.size + NONCE_BYTES]
    try:
        return AESGCM(master).decrypt(nonce, sealed[HEADER.size + NONCE_BYTES :], aad(version))
    except InvalidTag:
        raise OpenFailed(version) from None
