"""Secrets sealed at rest under the master key: one format for content keys and studio secrets.

Format (all big-endian)::

    0x01 | master-key version (4 bytes) | nonce (12 bytes) | AES-256-GCM(ciphertext + tag)

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


def seal(plaintext: bytes, *, master_key: bytes, key_version: int, aad: bytes) -> bytes:
    if len(master_key) != MASTER_KEY_BYTES:
        raise ValueError(f"the master key must be {MASTER_KEY_BYTES} bytes")
    if not 0 <= key_version <= 0xFFFFFFFF:
        raise ValueError(f"master key version must fit in 32 bits, got {key_version}")
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(master_key).encrypt(nonce, plaintext, aad)
    return HEADER.pack(SEAL_FORMAT, key_version) + nonce + sealed


def sealed_version(sealed: bytes, *, min_plaintext: int = 0) -> int:
    """The master-key version a blob was sealed under (to skip rows already rotated)."""
    if len(sealed) < HEADER.size + NONCE_BYTES + min_plaintext + TAG_BYTES:
        raise MalformedSeal(f"sealed data is too short ({len(sealed)} bytes)")
    fmt, version = HEADER.unpack_from(sealed)
    if fmt != SEAL_FORMAT:
        raise MalformedSeal(f"unknown seal format byte 0x{fmt:02x}")
    return int(version)


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
