"""Sample-ratio mismatch: do the variants hold the viewers their weights promise?

gbstats' ``check_srm`` (Pearson's chi-square against the weights). A mismatch means the
assignment or the logging is broken, and no lift can be trusted until it is explained.

The threshold is p < 0.005, not GrowthBook's 0.001: at 300,000 viewers a 50.5/49.5 split is
flagged in more than 99% of experiments at 0.005 (about 98.6% at 0.001), while a true split
is flagged in 0.5% (tests/experiments/test_srm.py measures both; docs/experiments.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gbstats.utils import check_srm

SRM_ALPHA = 0.005


@dataclass(frozen=True)
class SrmVerdict:
    p_value: float
    mismatch: bool
    counts: tuple[int, ...]
    expected_shares: tuple[float, ...]


def srm_check(
    counts: Sequence[int], weights: Sequence[float], alpha: float = SRM_ALPHA
) -> SrmVerdict:
    total = sum(weights)
    shares = tuple(w / total for w in weights) if total > 0 else tuple(0.0 for _ in weights)
    p_value = float(check_srm(list(counts), list(weights)))
    return SrmVerdict(p_value, p_value < alpha, tuple(int(c) for c in counts), shares)
