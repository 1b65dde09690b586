from __future__ import annotations

import pytest

from reelflow.events.pseudonym import viewer_pseudonym

KEY = b"k" * 32


def test_stable_per_account_and_key_and_free_of_the_name() -> None:
    a = viewer_pseudonym(KEY, "alice@example.com")
    assert a == viewer_pseudonym(KEY, "alice@example.com")
    assert a != viewer_pseudonym(KEY, "bob@example.com")
    assert a != viewer_pseudonym(b"x" * 32, "alice@example.com")
    assert "alice" not in a and a.startswith("v_") and len(a) == 34


def test_a_short_key_or_empty_account_is_refused() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        viewer_pseudonym(b"short", "alice")
    with pytest.raises(ValueError, match="empty"):
        viewer_pseudonym(KEY, "")
