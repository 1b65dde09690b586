"""Ranking metrics against cases computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from reelflow.recs.metrics import novelty, summarise, user_scores


def test_one_hit_at_rank_two_of_two_relevant() -> None:
    ndcg, ap, precision, recall = user_scores([7, 3, 9], {3, 5}, k=3)
    # DCG = 1/log2(3); IDCG = 1 + 1/log2(3)
    assert ndcg == pytest.approx((1 / math.log2(3)) / (1 + 1 / math.log2(3)))
    # precision at the hit (rank 2) is 1/2, over min(2, 3) relevant
    assert ap == pytest.approx(0.5 / 2)
    assert precision == pytest.approx(1 / 3)
    assert recall == pytest.approx(1 / 2)


def test_perfect_and_empty_lists() -> None:
    assert user_scores([1, 2], {1, 2}, k=2) == pytest.approx((1.0, 1.0, 1.0, 1.0))
    assert user_scores([4, 5], {1}, k=2) == (0.0, 0.0, 0.0, 0.0)
    # a list cut short (-1 padding) counts the missing places as misses
    assert user_scores([1, -1, -1], {1}, k=3) == pytest.approx((1.0, 1.0, 1 / 3, 1.0))


def test_ideal_dcg_is_capped_at_k() -> None:
    # 5 relevant items, k = 2, both places hit: the best possible list, nDCG 1 and AP 1
    ndcg, ap, _, recall = user_scores([1, 2], {1, 2, 3, 4, 5}, k=2)
    assert ndcg == pytest.approx(1.0)
    assert ap == pytest.approx(1.0)
    assert recall == pytest.approx(2 / 5)


def test_map_of_hits_at_one_and_three() -> None:
    _, ap, _, _ = user_scores([1, 9, 2], {1, 2}, k=3)
    assert ap == pytest.approx((1 / 1 + 2 / 3) / 2)


def test_a_viewer_without_held_out_items_is_refused() -> None:
    with pytest.raises(ValueError, match="without held-out"):
        user_scores([1], set(), k=1)


def test_summary_means_coverage_and_novelty() -> None:
    ranked = np.array([[0, 1], [0, 2]])
    counts = np.array([3, 1, 0, 0])  # 4 candidate items, 3 training users
    result = summarise(ranked, [{0}, {2}], k=2, item_counts=counts, n_users=3)
    first = user_scores([0, 1], {0}, 2)
    second = user_scores([0, 2], {2}, 2)
    assert result.ndcg == pytest.approx((first[0] + second[0]) / 2)
    assert result.coverage == pytest.approx(3 / 4)  # items 0, 1, 2 of 4
    information = -np.log2((counts + 1) / 4)
    assert result.novelty == pytest.approx(information[[0, 1, 0, 2]].mean())
    assert result.users == 2


def test_novelty_ignores_padding() -> None:
    counts = np.array([1, 0])
    assert novelty(np.array([[1, -1]]), counts, n_users=1) == pytest.approx(-math.log2(1 / 2))
    assert novelty(np.array([[-1, -1]]), counts, n_users=1) == 0.0
