from __future__ import annotations

import os

import pytest

from reelflow.domain.track_classes import TrackClass
from reelflow.packaging.errors import InvalidKeyMaterial, KeyUnsealError, UnknownMasterKeyVersion
from reelflow.packaging.keys import (
    ContentKey,
    KeyRef,
    generate_content_keys,
    open_key,
    reseal,
    seal_key,
    sealed_key_version,
)


def test_generate_content_keys_random_per_class() -> None:
    keys = generate_content_keys(["SD", TrackClass.HD, "AUDIO", "SD"])
    assert set(keys) == {TrackClass.SD, TrackClass.HD, TrackClass.AUDIO}
    assert all(len(k.kid) == 16 and len(k.key) == 16 for k in keys.values())
    assert len({k.kid for k in keys.values()} | {k.key for k in keys.values()}) == 6
    assert all(k.track_class is tc for tc, k in keys.items())


def test_content_key_repr_hides_key() -> None:
    key = generate_content_keys([TrackClass.HD])[TrackClass.HD]
    for text in (repr(key), str(key), f"{key}", repr({TrackClass.HD: key}), repr([key])):
        assert key.key.hex() not in text
        assert key.key.hex().upper() not in text
        assert key.kid.hex() in text


def test_content_key_validates_lengths() -> None:
    with pytest.raises(InvalidKeyMaterial, match="key must be 16 bytes"):
        ContentKey(kid=os.urandom(16), key=os.urandom(15), track_class=TrackClass.SD)


def test_key_ref_carries_no_key() -> None:
    key = generate_content_keys([TrackClass.SD])[TrackClass.SD]
    ref = KeyRef.of("title-1", key)
    assert ref == KeyRef("title-1", TrackClass.SD, key.kid.hex())
    assert key.key.hex() not in repr(ref)


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
