"""Content keys as values: random per class, lengths checked, never shown in a repr."""

from __future__ import annotations

import os

import pytest

from reelflow.domain.content_keys import (
    ContentKey,
    InvalidKeyMaterial,
    KeyRef,
    generate_content_keys,
)
from reelflow.domain.track_classes import TrackClass


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
