"""The promotion rule: relative tolerance against the serving model's nDCG@10."""

from __future__ import annotations

from reelflow.lifecycle.recs_training import promotion


def test_with_nothing_to_compare_the_candidate_is_promoted() -> None:
    assert promotion(None, None, 0.02)[0] and promotion(0.1, None, 0.02)[0]


def test_within_the_tolerance_is_promoted_past_it_is_not() -> None:
    assert promotion(0.295, 0.300, 0.02)[0]  # -1.7 %: noise
    assert promotion(0.350, 0.300, 0.02)[0]
    promoted, why = promotion(0.290, 0.300, 0.02)  # -3.3 %
    assert not promoted and "0.2900 < 0.2940" in why
    assert not promotion(0.299, 0.300, 0.0)[0]
