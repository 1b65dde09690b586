"""Content keys at rest: sealing, opening and resealing under the master key.

Sealed in the format of ``reelflow.keystore.sealed``, format 0x02: the AAD binds the format
byte, the master-key version, the KID and the key's place (title, version, track class), so
a sealed key cannot be moved onto another KID row, relabelled with another master-key
version, or relabelled as another class or title (an HD key's row marked SD would hand it to
every basic-plan viewer). Keys sealed before that (format 0x01: KID and version only) still
open; ``reelflow keys rotate-master`` and ``reelflow keys bind`` reseal them as 0x02.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass

from reelflow.domain.content_keys import KEY_BYTES, ContentKeyError, InvalidKeyMaterial, check_len
from reelflow.keystore import sealed

MASTER_KEY_BYTES = sealed.MASTER_KEY_BYTES
_AAD_LABEL = b"reelflow/content-key/v1"
_BOUND_LABEL = b"reelflow/content-key/v2"


class UnknownMasterKeyVersion(ContentKeyError):
    """A sealed key names a master-key version that is not configured."""


class KeyUnsealError(ContentKeyError):
    """A sealed key cannot be opened: wrong master key, wrong KID, or tampered bytes."""


@dataclass(frozen=True)
class KeyPlace:
    """Where a content key belongs: sealed into its associated data (format 0x02)."""

    title_id: str
    version: int
    track_class: str

    def encoded(self) -> bytes:
        # Length-prefixed, so no two places share bytes ("a" + "bc" vs "ab" + "c").
        title, cls = self.title_id.encode(), self.track_class.encode()
        return (
            struct.pack(">H", len(title)) + title + struct.pack(">IH", self.version, len(cls)) + cls
        )


def _aad(kid: bytes, key_version: int, place: KeyPlace | None) -> bytes:
    if place is None:  # format 0x01: keys sealed before places were bound
        return _AAD_LABEL + sealed.HEADER.pack(sealed.SEAL_FORMAT, key_version) + kid
    header = sealed.HEADER.pack(sealed.BOUND_FORMAT, key_version)
    return _BOUND_LABEL + header + kid + place.encoded()


def seal_key(
    key: bytes, *, master_key: bytes, key_version: int, kid: bytes, place: KeyPlace
) -> bytes:
    """Encrypt a content key for storage (AES-256-GCM, random nonce, AAD = version, KID and
    place)."""
    check_len("key", key, KEY_BYTES)
    check_len("kid", kid, KEY_BYTES)
    check_len("master key", master_key, MASTER_KEY_BYTES)
    if not 0 <= key_version <= 0xFFFFFFFF:
        raise InvalidKeyMaterial(f"master key version must fit in 32 bits, got {key_version}")
    return sealed.seal(
        key,
        master_key=master_key,
        key_version=key_version,
        aad=_aad(kid, key_version, place),
        fmt=sealed.BOUND_FORMAT,
    )


def _header(blob: bytes) -> tuple[int, int]:
    try:
        return sealed.sealed_header(blob, min_plaintext=KEY_BYTES)
    except sealed.MalformedSeal as exc:
        raise KeyUnsealError(f"sealed key: {exc}") from None


def is_bound(blob: bytes) -> bool:
    """Whether a sealed key binds its place (format 0x02) rather than its KID alone."""
    return _header(blob)[0] == sealed.BOUND_FORMAT


def open_key(
    blob: bytes, *, master_keys: Mapping[int, bytes], kid: bytes, place: KeyPlace
) -> bytes:
    """Decrypt a sealed key with the master key of the version it names; a bound key opens
    only at its own place."""
    check_len("kid", kid, KEY_BYTES)
    fmt, version = _header(blob)
    bound = place if fmt == sealed.BOUND_FORMAT else None
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
            aad=lambda v: _aad(kid, v, bound),
            min_plaintext=KEY_BYTES,
        )
    except sealed.OpenFailed:
        raise KeyUnsealError(
            f"cannot open sealed key for kid {kid.hex()} (master key version {version}): "
            "wrong master key, wrong KID, a row moved to another title or class, or "
            "tampered bytes"
        ) from None


def reseal(
    sealed: bytes,
    *,
    old: Mapping[int, bytes],
    new_version: int,
    new_master: bytes,
    kid: bytes,
    place: KeyPlace,
) -> bytes:
    """Re-encrypt a sealed key under a new master key (master-key rotation), bound to its
    place whatever format it had."""
    clear = open_key(sealed, master_keys=old, kid=kid, place=place)
    return seal_key(clear, master_key=new_master, key_version=new_version, kid=kid, place=place)
