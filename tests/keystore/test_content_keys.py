"""Content keys sealed at rest: round trip, bound to KID, version and place, rotation."""

from __future__ import annotations

import os

import pytest

from reelflow.domain.content_keys import InvalidKeyMaterial
from reelflow.keystore.content_keys import (
    KeyPlace,
    KeyUnsealError,
    UnknownMasterKeyVersion,
    is_bound,
    open_key,
    reseal,
    seal_key,
)
from reelflow.keystore.sealed import sealed_version

PLACE = KeyPlace("tt-film", 2, "HD")

# Sealed by the code before the keys moved out of packaging/ (kid 00..0f, key 10..1f,
# master 20..3f, version 3): keys already in catalogs must keep opening.
_SEALED_BEFORE_MOVE = bytes.fromhex(
    "0100000003bc31df4c0af0895f1461e4a3be9c28ad3d8079c5e671a4b4374b80bff754dd244e82c4999b73"
    "1b968f37cdab"
)


def test_key_sealed_by_earlier_code_still_opens() -> None:
    kid, key, master = bytes(range(16)), bytes(range(16, 32)), bytes(range(32, 64))
    assert sealed_version(_SEALED_BEFORE_MOVE) == 3
    assert open_key(_SEALED_BEFORE_MOVE, master_keys={3: master}, kid=kid, place=PLACE) == key


@pytest.fixture
def material() -> tuple[bytes, bytes, bytes]:
    return os.urandom(16), os.urandom(16), os.urandom(32)


def test_seal_open_round_trip(material: tuple[bytes, bytes, bytes]) -> None:
    kid, key, master = material
    sealed = seal_key(key, master_key=master, key_version=7, kid=kid, place=PLACE)
    assert key not in sealed
    assert sealed_version(sealed) == 7
    assert open_key(sealed, master_keys={7: master}, kid=kid, place=PLACE) == key
    # random nonce: sealing twice gives different bytes
    assert seal_key(key, master_key=master, key_version=7, kid=kid, place=PLACE) != sealed


def test_open_with_wrong_master_fails(material: tuple[bytes, bytes, bytes]) -> None:
    kid, key, master = material
    sealed = seal_key(key, master_key=master, key_version=1, kid=kid, place=PLACE)
    with pytest.raises(KeyUnsealError, match=kid.hex()):
        open_key(sealed, master_keys={1: os.urandom(32)}, kid=kid, place=PLACE)


def test_open_with_other_kid_fails(material: tuple[bytes, bytes, bytes]) -> None:
    kid, key, master = material
    sealed = seal_key(key, master_key=master, key_version=1, kid=kid, place=PLACE)
    with pytest.raises(KeyUnsealError):
        open_key(sealed, master_keys={1: master}, kid=os.urandom(16), place=PLACE)


@pytest.mark.parametrize("where", [5, 20, -1])
def test_tampered_sealed_key_fails(material: tuple[bytes, bytes, bytes], where: int) -> None:
    kid, key, master = material
    sealed = bytearray(seal_key(key, master_key=master, key_version=1, kid=kid, place=PLACE))
    sealed[where] ^= 0x01
    with pytest.raises(KeyUnsealError):
        open_key(bytes(sealed), master_keys={1: master}, kid=kid, place=PLACE)


def test_relabelled_version_fails(material: tuple[bytes, bytes, bytes]) -> None:
    kid, key, master = material
    sealed = bytearray(seal_key(key, master_key=master, key_version=1, kid=kid, place=PLACE))
    sealed[4] = 2  # claim version 2, same master configured under both numbers
    with pytest.raises(KeyUnsealError):
        open_key(bytes(sealed), master_keys={1: master, 2: master}, kid=kid, place=PLACE)


def test_unknown_master_version(material: tuple[bytes, bytes, bytes]) -> None:
    kid, key, master = material
    sealed = seal_key(key, master_key=master, key_version=3, kid=kid, place=PLACE)
    with pytest.raises(UnknownMasterKeyVersion, match="version 3"):
        open_key(sealed, master_keys={1: master}, kid=kid, place=PLACE)


def test_rotation(material: tuple[bytes, bytes, bytes]) -> None:
    kid, key, old_master = material
    new_master = os.urandom(32)
    sealed = seal_key(key, master_key=old_master, key_version=1, kid=kid, place=PLACE)
    rotated = reseal(
        sealed, old={1: old_master}, new_version=2, new_master=new_master, kid=kid, place=PLACE
    )
    assert sealed_version(rotated) == 2
    assert open_key(rotated, master_keys={2: new_master}, kid=kid, place=PLACE) == key
    with pytest.raises(UnknownMasterKeyVersion):
        open_key(rotated, master_keys={1: old_master}, kid=kid, place=PLACE)
    with pytest.raises(KeyUnsealError):
        open_key(rotated, master_keys={2: old_master}, kid=kid, place=PLACE)


def test_master_key_must_be_32_bytes(material: tuple[bytes, bytes, bytes]) -> None:
    kid, key, _ = material
    with pytest.raises(InvalidKeyMaterial, match="master key"):
        seal_key(key, master_key=os.urandom(16), key_version=1, kid=kid, place=PLACE)


@pytest.mark.parametrize(
    "moved",
    [KeyPlace("tt-film", 2, "SD"), KeyPlace("tt-other", 2, "HD"), KeyPlace("tt-film", 1, "HD"),
     KeyPlace("tt-fil", 2, "mHD")],
)  # fmt: skip
def test_a_key_moved_to_another_class_title_or_version_does_not_open(
    material: tuple[bytes, bytes, bytes], moved: KeyPlace
) -> None:
    # An HD key's row relabelled SD in the catalog would reach basic-plan viewers.
    kid, key, master = material
    sealed = seal_key(key, master_key=master, key_version=1, kid=kid, place=PLACE)
    assert is_bound(sealed)
    with pytest.raises(KeyUnsealError, match="another title or class"):
        open_key(sealed, master_keys={1: master}, kid=kid, place=moved)


def test_a_key_sealed_before_places_were_bound_opens_and_reseals_bound() -> None:
    kid, key, master = bytes(range(16)), bytes(range(16, 32)), bytes(range(32, 64))
    assert not is_bound(_SEALED_BEFORE_MOVE)
    bound = reseal(
        _SEALED_BEFORE_MOVE, old={3: master}, new_version=3, new_master=master, kid=kid, place=PLACE
    )
    assert is_bound(bound) and sealed_version(bound) == 3
    assert open_key(bound, master_keys={3: master}, kid=kid, place=PLACE) == key
    with pytest.raises(KeyUnsealError):
        open_key(bound, master_keys={3: master}, kid=kid, place=KeyPlace("tt-film", 2, "SD"))
    # a bound key cannot be passed off as an old one: the format byte is in its AAD
    downgraded = b"\x01" + bound[1:]
    with pytest.raises(KeyUnsealError):
        open_key(downgraded, master_keys={3: master}, kid=kid, place=PLACE)
