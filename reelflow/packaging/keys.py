"""Content keys per title and track class, and their at-rest encryption under a master key.

One key per (title, track class) so that a plan which may not watch HD never receives the
HD key. Clear keys live only in memory: what travels through workflow payloads is a
``KeyRef``; what is stored is ``seal_key(...)`` output.

Sealed in the format of ``reelflow.keystore.sealed``. The AAD binds the format byte, the master-key
version and the KID, so a sealed key cannot be swapped onto another KID row or relabelled
with another master-key version.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from reelflow.domain.track_classes import TrackClass
from reelflow.keystore import sealed
from reelflow.packaging.errors import InvalidKeyMaterial, KeyUnsealError, UnknownMasterKeyVersion

KEY_BYTES = 16
MASTER_KEY_BYTES = sealed.MASTER_KEY_BYTES
_AAD_LABEL = b"reelflow/content-key/v1"


def _check_len(name: str, value: bytes, size: int) -> None:
    if not isinstance(value, bytes) or len(value) != size:
        got = len(value) if isinstance(value, bytes) else type(value).__name__
        raise InvalidKeyMaterial(f"{name} must be {size} bytes, got {got}")


@dataclass(frozen=True, repr=False)
class ContentKey:
    """A clear content key. Its repr never shows the key bytes (they end up in logs)."""

    kid: bytes
    key: bytes
    track_class: TrackClass

    def __post_init__(self) -> None:
        _check_len("kid", self.kid, KEY_BYTES)
        _check_len("key", self.key, KEY_BYTES)
        object.__setattr__(self, "track_class", TrackClass(self.track_class))

    @property
    def kid_hex(self) -> str:
        return self.kid.hex()

    @property
    def kid_uuid(self) -> str:
        """The KID in the 8-4-4-4-12 form used by DASH ``cenc:default_KID`` and CPIX."""
        h = self.kid.hex()
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def __repr__(self) -> str:
        return (
            f"ContentKey(kid={self.kid.hex()}, track_class={self.track_class.value}, key=<hidden>)"
        )

    __str__ = __repr__


@dataclass(frozen=True)
class KeyRef:
    """What travels through workflow payloads instead of a clear key."""

    title_id: str
    track_class: TrackClass
    kid: str  # hex, 32 chars

    @classmethod
    def of(cls, title_id: str, key: ContentKey) -> KeyRef:
        return cls(title_id=title_id, track_class=key.track_class, kid=key.kid_hex)


def generate_content_keys(classes: Iterable[TrackClass | str]) -> dict[TrackClass, ContentKey]:
    """A fresh random key and KID for each class (duplicates collapse to one key)."""
    out: dict[TrackClass, ContentKey] = {}
    for cls in classes:
        tc = TrackClass(cls)
        if tc not in out:
            out[tc] = ContentKey(
                kid=os.urandom(KEY_BYTES), key=os.urandom(KEY_BYTES), track_class=tc
            )
    return out


def _aad(kid: bytes, key_version: int) -> bytes:
    return _AAD_LABEL + sealed.HEADER.pack(sealed.SEAL_FORMAT, key_version) + kid


def seal_key(key: bytes, *, master_key: bytes, key_version: int, kid: bytes) -> bytes:
    """Encrypt a content key for storage (AES-256-GCM, random nonce, AAD = version + KID)."""
    _check_len("key", key, KEY_BYTES)
    _check_len("kid", kid, KEY_BYTES)
    _check_len("master key", master_key, MASTER_KEY_BYTES)
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
    _check_len("kid", kid, KEY_BYTES)
    version = sealed_key_version(blob)
    master = master_keys.get(version)
    if master is None:
        raise UnknownMasterKeyVersion(
            f"sealed key for kid {kid.hex()} needs master key version {version}, "
            f"configured: {sorted(master_keys)}"
        )
    _check_len("master key", master, MASTER_KEY_BYTES)
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
