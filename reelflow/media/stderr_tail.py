"""The end of a tool's stderr, for error messages: the last lines, the last characters, or both."""

from __future__ import annotations


def stderr_tail(text: str, *, lines: int | None = None, chars: int | None = None) -> str:
    """``text`` stripped, cut to its last ``lines`` lines and then its last ``chars`` characters."""
    tail = text.strip()
    if lines is not None:
        tail = "\n".join(tail.splitlines()[-lines:])
    if chars is not None:
        tail = tail[-chars:]
    return tail
