"""Content keys sealed at rest: round trip, bound to KID and version, rotation."""

from __future__ import annotations

import os

import pytest

from reelflow.domain.content_keys import InvalidKeyMaterial
from reelflow.keystore.content_keys import (
    KeyUnsealError,
    UnknownMasterKeyVersion,
    open_key,
    reseal,
    seal_key,
    sealed_key_version,
)

# Sealed by the code before the keys moved out of packaging/ (kid 00..0f, key 10..1f,
# master 20..3f, version 3): keys already in catalogs must keep opening.
_SEALED_BEFORE_MOVE = bytes.fromhex(
    "0100000003bc31df4c0af0895f1461e4a3be9c28ad3d8079c5e671a4b4374b80bff754dd244e82c4999b73"
    "1b968f37cdab"
)


def test_key_sealed_by_earlier_code_still_opens() -> None:
    kid, key, master = bytes(range(16)), bytes(range(16, 32)), bytes(range(32, 64))
    assert sealed_key_version(_SEALED_BEFORE_MOVE) == 3
    assert open_key(_SEALED_BEFORE_MOVE, master_keys={3: master}, kid=kid) == key


@pytest.fixture
def material() -> tuple[bytes, bytes, bytes]:
    return os.urandom(16), os.urandom(16), os.urandom(32)


def test_seal_open_round_trip(material: tuple[bytes, bytes, bytes]) -> None:
    kid, key, master = material
    sealed = seal_key(key, master_key=master, key_version=7, kid=kid)
    assert key not in sealed
    assert sealed_key_version(sealed) == 7
    assert open_key(sealed, master_keys={7: master}, kid=kid) == key
    # random nonce: sealing twice gives different bytes
    assert seal_key(key, master_key=master, key_version=7, kid=kid) != sealed


def test_open_with_wrong_master_fails(material: tuple[bytes, bytes, bytes]) -> None:
    kid, key, master = material
    sealed = seal_key(key, master_key=master, key_version=1, kid=kid)
    with pytest.raises(KeyUnsealError, match=kid.hex()):
        open_key(sealed, master_keys={1: os.urandom(32)}, kid=kid)


def test_open_with_other_kid_fails(material: tuple[bytes, bytes, bytes]) -> None:
    kid, key, master = material
    sealed = seal_key(key, master_key=master, key_version=1, kid=kid)
    with pytest.raises(KeyUnsealError):
        open_key(sealed, master_keys={1: master}, kid=os.urandom(16))


@pytest.mark.parametrize("where", [5, 20, -1])
def test_tampered_sealed_key_fails(material: tuple[bytes, bytes, bytes], where: int) -> None:
    kid, key, master = material
    sealed = bytearray(seal_key(key, master_key=master, key_version=1, kid=kid))
    sealed[where] ^= 0x01
    with pytest.raises(KeyUnsealError):
        open_key(bytes(sealed), master_keys={1: master}, kid=kid)


def test_relabelled_version_fails(material: tuple[bytes, bytes, bytes]) -> None:
    kid, key, master = material
    sealed = bytearray(seal_key(key, master_key=master, key_version=1, kid=kid))
    sealed[4] = 2  # claim version 2, same master configured under both numbers
    with pytest.raises(KeyUnsealError):
        open_key(bytes(sealed), master_keys={1: master, 2: master}, kid=kid)


def test_unknown_master_version(material: tuple[bytes, bytes, bytes]) -> None:
    kid, key, master = material
    sealed = seal_key(key, master_key=master, key_version=3, kid=kid)
    with pytest.raises(UnknownMasterKeyVersion, match="version 3"):
        open_key(sealed, master_keys={1: master}, kid=kid)


def test_rotation(material: tuple[bytes, bytes, bytes]) -> None:
    kid, key, old_master = material
    new_master = os.urandom(32)
    sealed = seal_key(key, master_key=old_master, key_version=1, kid=kid)
    rotated = reseal(sealed, old={1: old_master}, new_version=2, new_master=new_master, kid=kid)
    assert sealed_key_version(rotated) == 2
    assert open_key(rotated, master_keys={2: new_master}, kid=kid) == key
    with pytest.raises(UnknownMasterKeyVersion):
        open_key(rotated, master_keys={1: old_master}, kid=kid)
    with pytest.raises(KeyUnsealError):
        open_key(rotated, master_keys={2: old_master}, kid=kid)


def test_master_key_must_be_32_bytes(material: tuple[bytes, bytes, bytes]) -> None:
    kid, key, _ = material
    with pytest.raises(InvalidKeyMaterial, match="master key"):
        seal_key(key, master_key=os.urandom(16), key_version=1, kid=kid)
