"""Object keys: the one rule both stores apply, so a key that works in development cannot
fail in production, and nothing can address a path outside the store."""

from __future__ import annotations

import re

MAX_KEY_BYTES = 1024
# Filesystems cap one name at 255 bytes; enforcing it for S3 too keeps keys portable.
MAX_SEGMENT_BYTES = 255
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")


class InvalidObjectKey(ValueError):
    """The key (or prefix) is not acceptable; the message names the problem."""


class KeyEscapesRoot(InvalidObjectKey):
    """LocalStore only: the key resolves (through a symlink) outside the store root."""


def validate_key(key: object) -> str:
    """Return ``key`` unchanged if it is a safe object key, else raise ``InvalidObjectKey``.

    Safe means: a non-empty str of at most 1024 UTF-8 bytes; ``/``-separated segments, each
    non-empty, not ``.`` or ``..``, at most 255 bytes; no leading ``/``, no backslash, no
    NUL or other control characters.
    """
    if not isinstance(key, str):
        raise InvalidObjectKey(f"object key must be a str, got {type(key).__name__}")
    if not key:
        raise InvalidObjectKey("object key is empty")
    try:
        encoded = key.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidObjectKey(f"object key {key!r} is not valid UTF-8 (lone surrogate)")
    if len(encoded) > MAX_KEY_BYTES:
        raise InvalidObjectKey(
            f"object key is {len(encoded)} bytes in UTF-8; the maximum is {MAX_KEY_BYTES}"
        )
    if "\x00" in key:
        raise InvalidObjectKey(f"object key {key!r} contains a NUL character")
    if _CONTROL_CHARS.search(key):
        raise InvalidObjectKey(f"object key {key!r} contains a control character")
    if "\\" in key:
        raise InvalidObjectKey(f"object key {key!r} contains a backslash; use '/' to separate")
    if key.startswith("/"):
        raise InvalidObjectKey(f"object key {key!r} starts with '/'; keys are relative")
    for segment in key.split("/"):
        if segment == "":
            raise InvalidObjectKey(
                f"object key {key!r} has an empty segment ('//' or trailing '/')"
            )
        if segment in (".", ".."):
            raise InvalidObjectKey(f"object key {key!r} has a {segment!r} segment")
        if len(segment.encode("utf-8")) > MAX_SEGMENT_BYTES:
            raise InvalidObjectKey(
                f"object key has a segment of {len(segment.encode('utf-8'))} bytes; "
                f"the maximum between '/' is {MAX_SEGMENT_BYTES}"
            )
    return key


def validate_prefix(prefix: object) -> str:
    """Validate a listing prefix: empty (everything), or a key with an optional trailing '/'."""
    if prefix == "":
        return ""
    if not isinstance(prefix, str):
        raise InvalidObjectKey(f"prefix must be a str, got {type(prefix).__name__}")
    stem = prefix[:-1] if prefix.endswith("/") else prefix
    try:
        validate_key(stem)
    except InvalidObjectKey as exc:
        raise InvalidObjectKey(f"invalid prefix {prefix!r}: {exc}") from None
    return prefix
