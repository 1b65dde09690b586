"""The one at-rest seal format: round trip, bound to its associated data and master-key
version, and named errors for what cannot be opened."""

from __future__ import annotations

import os

import pytest

from reelflow.keystore import sealed


@pytest.fixture
def master() -> bytes:
    return os.urandom(sealed.MASTER_KEY_BYTES)


def test_round_trip_names_its_version(master: bytes) -> None:
    blob = sealed.seal(b"secret", master_key=master, key_version=4, aad=b"row-1")
    assert blob[0] == sealed.SEAL_FORMAT and b"secret" not in blob
    assert sealed.sealed_version(blob) == 4
    opened = sealed.unseal(blob, master_keys={4: master}, aad=lambda v: b"row-1")
    assert opened == b"secret"


def test_other_associated_data_does_not_open(master: bytes) -> None:
    blob = sealed.seal(b"secret", master_key=master, key_version=1, aad=b"row-1")
    with pytest.raises(sealed.OpenFailed) as caught:
        sealed.unseal(blob, master_keys={1: master}, aad=lambda v: b"row-2")
    assert caught.value.version == 1


def test_unknown_version_and_malformed_blobs(master: bytes) -> None:
    blob = sealed.seal(b"secret", master_key=master, key_version=2, aad=b"")
    with pytest.raises(sealed.UnknownVersion, match="version 2"):
        sealed.unseal(blob, master_keys={1: master}, aad=lambda v: b"")
    with pytest.raises(sealed.MalformedSeal, match="too short"):
        sealed.sealed_version(blob[:10])
    with pytest.raises(sealed.MalformedSeal, match="format byte 0x07"):
        sealed.sealed_version(b"\x07" + blob[1:])


def test_master_key_and_version_are_checked(master: bytes) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        sealed.seal(b"x", master_key=master[:16], key_version=1, aad=b"")
    with pytest.raises(ValueError, match="32 bits"):
        sealed.seal(b"x", master_key=master, key_version=2**32, aad=b"")
