"""The object-key rule both stores apply."""

from __future__ import annotations

import pytest

from reelflow.storage import (
    InvalidObjectKey,
    ObjectStore,
    validate_key,
    validate_prefix,
)

BAD_KEYS = [
    pytest.param("", "empty", id="empty"),
    pytest.param("/abs/path", "starts with '/'", id="leading-slash"),
    pytest.param("a/../b", "'..' segment", id="dotdot-middle"),
    pytest.param("..", "'..' segment", id="dotdot-only"),
    pytest.param("../etc/passwd", "'..' segment", id="dotdot-leading"),
    pytest.param("a/./b", "'.' segment", id="dot-segment"),
    pytest.param("a//b", "empty segment", id="double-slash"),
    pytest.param("a/b/", "empty segment", id="trailing-slash"),
    pytest.param("a\\b", "backslash", id="backslash"),
    pytest.param("a\x00b", "NUL", id="nul"),
    pytest.param("a\nb", "control character", id="newline"),
    pytest.param("a\x7fb", "control character", id="del"),
    pytest.param("x/" * 512 + "x", "maximum is 1024", id="too-long"),
    pytest.param("é/" * 341 + "éé", "1027 bytes", id="too-long-utf8"),
    pytest.param("a/" + "x" * 256, "segment of 256 bytes", id="long-segment"),
    pytest.param("é" * 128, "segment of 256 bytes", id="long-segment-utf8"),
    pytest.param("bad\udc80", "UTF-8", id="lone-surrogate"),
]


@pytest.mark.parametrize(("key", "message"), BAD_KEYS)
def test_validate_key_rejects(key: str, message: str) -> None:
    with pytest.raises(InvalidObjectKey, match=message.replace("(", r"\(")):
        validate_key(key)


def test_validate_key_rejects_non_str() -> None:
    with pytest.raises(InvalidObjectKey, match="must be a str"):
        validate_key(b"bytes/key")


@pytest.mark.parametrize(
    "key",
    ["a", "titles/42/master.mov", ("x" * 254 + "/") * 4 + "abcd", "ünï cödé/ file.mp4", ".hidden"],
)
def test_validate_key_accepts(key: str) -> None:
    assert validate_key(key) == key


def test_validate_prefix() -> None:
    assert validate_prefix("") == ""
    assert validate_prefix("titles/") == "titles/"
    assert validate_prefix("titles/4") == "titles/4"
    with pytest.raises(InvalidObjectKey, match="invalid prefix"):
        validate_prefix("../")


@pytest.mark.parametrize(("key", "message"), BAD_KEYS[:6])
def test_every_operation_validates_keys(store: ObjectStore, key: str, message: str) -> None:
    ops = [
        lambda: store.put_bytes(key, b"x"),
        lambda: store.get_bytes(key),
        lambda: store.exists(key),
        lambda: store.stat(key),
        lambda: store.delete(key),
        lambda: store.copy(key, "ok"),
        lambda: store.copy("ok", key),
        lambda: store.url(key),
        lambda: store.local_path(key),
        lambda: store.open_read(key),
    ]
    for op in ops:
        with pytest.raises(InvalidObjectKey):
            op()
