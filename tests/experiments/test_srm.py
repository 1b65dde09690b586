"""SRM: a 50.5/49.5 split of 300,000 viewers is flagged in >= 99% of experiments, a true
50/50 split in <= 1% (fixed seed; binomial counts, as random assignment makes them)."""

from __future__ import annotations

import numpy as np
import pytest

from reelflow.experiments.srm import SRM_ALPHA, srm_check

VIEWERS = 300_000
RUNS = 4_000


def _flagged(share: float, rng: np.random.Generator) -> float:
    first = rng.binomial(VIEWERS, share, RUNS)
    return float(
        np.mean([srm_check([int(c), VIEWERS - int(c)], [0.5, 0.5]).mismatch for c in first])
    )


@pytest.mark.slow
def test_a_one_point_mismatch_at_300k_is_flagged_and_a_true_split_is_not() -> None:
    rng = np.random.default_rng(20260523)
    mismatch, fair = _flagged(0.505, rng), _flagged(0.5, rng)
    print(
        f"SRM (p < {SRM_ALPHA}) over {RUNS} runs of {VIEWERS}: 50.5/49.5 flagged "
        f"{mismatch:.2%}, 50/50 flagged {fair:.2%}"
    )
    assert mismatch >= 0.99
    assert fair <= 0.01


def test_the_verdict_follows_the_weights() -> None:
    fair = srm_check([20_000, 30_000, 50_000], [0.2, 0.3, 0.5])
    assert not fair.mismatch and fair.p_value == pytest.approx(1.0)
    assert fair.expected_shares == pytest.approx((0.2, 0.3, 0.5))
    skewed = srm_check([21_000, 29_000, 50_000], [0.2, 0.3, 0.5])
    assert skewed.mismatch and skewed.p_value < 1e-10
    assert skewed.counts == (21_000, 29_000, 50_000)
    assert not srm_check([0, 0], [0.5, 0.5]).mismatch  # nobody yet: nothing to flag
