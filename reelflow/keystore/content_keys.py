"""Content keys at rest: sealing, opening and resealing under the master key.

Sealed in the format of ``reelflow.keystore.sealed``. The AAD binds the format byte, the
master-key version and the KID, so a sealed key cannot be swapped onto another KID row or
relabelled with another master-key version.
"""

from __future__ import annotations

from collections.abc import Mapping

from reelflow.domain.content_keys import KEY_BYTES, ContentKeyError, InvalidKeyMaterial, check_len
from reelflow.keystore import sealed

MASTER_KEY_BYTES = sealed.MASTER_KEY_BYTES
_AAD_LABEL = b"reelflow/content-key/v1"


class UnknownMasterKeyVersion(ContentKeyError):
    """A sealed key names a master-key version that is not configured."""


class KeyUnsealError(ContentKeyError):
    """A sealed key cannot be opened: wrong master key, wrong KID, or tampered bytes."""


def _aad(kid: bytes, key_version: int) -> bytes:
    return _AAD_LABEL + sealed.HEADER.pack(sealed.SEAL_FORMAT, key_version) + kid


def seal_key(key: bytes, *, master_key: bytes, key_version: int, kid: bytes) -> bytes:
    """Encrypt a content key for storage (AES-256-GCM, random nonce, AAD = version + KID)."""
    check_len("key", key, KEY_BYTES)
    check_len("kid", kid, KEY_BYTES)
    check_len("master key", master_key, MASTER_KEY_BYTES)
    if not 0 <= key_version <= 0xFFFFFFFF:
        raise InvalidKeyMaterial(f"master key version must fit in 32 bits, got {key_version}")
    return sealed.seal(
        key, master_key=master_key, key_version=key_version, aad=_aad(kid, key_version)
    )


def sealed_key_version(blob: bytes) -> int:
    """The master-key version a sealed key was made with (to skip rows already rotated)."""
    try:
        return sealed.sealed_version(blob, min_plaintext=KEY_BYTES)
    except sealed.MalformedSeal as exc:
        raise KeyUnsealError(f"sealed key: {exc}") from None


def open_key(blob: bytes, *, master_keys: Mapping[int, bytes], kid: bytes) -> bytes:
    """Decrypt a sealed key with the master key of the version it names."""
    check_len("kid", kid, KEY_BYTES)
    version = sealed_key_version(blob)
    master = master_keys.get(version)
    if master is None:
        raise UnknownMasterKeyVersion(
            f"sealed key for kid {kid.hex()} needs master key version {version}, "
            f"configured: {sorted(master_keys)}"
        )
    check_len("master key", master, MASTER_KEY_BYTES)
    try:
        return sealed.unseal(
            blob,
            master_keys=master_keys,
            aad=lambda v: _aad(kid, v),
            min_plaintext=KEY_BYTES,
        )
    except sealed.OpenFailed:
        raise KeyUnsealError(
            f"cannot open sealed key for kid {kid.hex()} (master key version {version}): "
            "wrong master key, wrong KID or tampered bytes"
        ) from None


def reseal(
    sealed: bytes,
    *,
    old: Mapping[int, bytes],
    new_version: int,
    new_master: bytes,
    kid: bytes,
) -> bytes:
    """Re-encrypt a sealed key under a new master key (master-key rotation)."""
    clear = open_key(sealed, master_keys=old, kid=kid)
    return seal_key(clear, master_key=new_master, key_version=new_version, kid=kid)
