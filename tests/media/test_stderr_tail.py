from __future__ import annotations

from reelflow.media.stderr_tail import stderr_tail

TEXT = "\n  first\nsecond\nthird\n\n"


def test_last_lines() -> None:
    assert stderr_tail(TEXT, lines=2) == "second\nthird"


def test_last_chars() -> None:
    assert stderr_tail(TEXT, chars=8) == "nd\nthird"


def test_lines_then_chars_and_no_limit() -> None:
    assert stderr_tail(TEXT, lines=2, chars=5) == "third"
    assert stderr_tail(TEXT) == "first\nsecond\nthird"
