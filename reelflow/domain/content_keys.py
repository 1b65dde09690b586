"""Content keys as plain values: one key and KID per title version and track class.

One key per (title, track class) so that a plan which may not watch HD never receives the
HD key. Clear keys live only in memory: what travels through workflow payloads is a
``KeyRef``; what is stored is sealed by ``reelflow.keystore.content_keys``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

from reelflow.domain.track_classes import TrackClass

KEY_BYTES = 16


class ContentKeyError(RuntimeError):
    """Base class for content-key problems."""


class InvalidKeyMaterial(ContentKeyError, ValueError):
    """A key, KID or master key has the wrong length or type."""


def check_len(name: str, value: bytes, size: int) -> None:
    """Raise ``InvalidKeyMaterial`` unless ``value`` is exactly ``size`` bytes."""
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
        check_len("kid", self.kid, KEY_BYTES)
        check_len("key", self.key, KEY_BYTES)
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
