"""Artwork candidate names and the package artwork map's candidates entry."""

from __future__ import annotations

import pytest

from reelflow.domain.artwork import (
    CANDIDATES_ENTRY,
    candidate_count,
    candidate_file_name,
    candidate_paths,
)

BASE = {
    "poster": ["art/poster_600x900.jpg", "art/poster_300x450.jpg"],
    "backdrop": ["art/backdrop_1280x720.jpg"],
    "thumbnails": ["thumbs/thumbnails.vtt"],
}
WITH_TWO = {
    **BASE,
    CANDIDATES_ENTRY: [
        "art/c1_poster_600x900.jpg",
        "art/c1_poster_300x450.jpg",
        "art/c1_backdrop_1280x720.jpg",
        "art/c2_poster_600x900.jpg",
        "art/c2_backdrop_1280x720.jpg",
    ],
}


def test_candidate_file_names() -> None:
    assert candidate_file_name(0, "poster_600x900.jpg") == "poster_600x900.jpg"
    assert candidate_file_name(2, "poster_600x900.jpg") == "c2_poster_600x900.jpg"
    for bad in (-1, 3):
        with pytest.raises(ValueError, match="candidate"):
            candidate_file_name(bad, "poster_600x900.jpg")


def test_candidate_zero_is_the_old_map() -> None:
    assert candidate_count(BASE, "poster") == 1
    assert candidate_paths(BASE, "poster", 0) == BASE["poster"]
    assert candidate_paths(BASE, "poster", 1) == []
    assert candidate_count({}, "poster") == 0


def test_candidates_by_number_and_kind() -> None:
    assert candidate_count(WITH_TWO, "poster") == 3
    assert candidate_paths(WITH_TWO, "poster", 1) == [
        "art/c1_poster_600x900.jpg",
        "art/c1_poster_300x450.jpg",
    ]
    assert candidate_paths(WITH_TWO, "backdrop", 2) == ["art/c2_backdrop_1280x720.jpg"]
    assert candidate_paths(WITH_TWO, "poster", 0) == BASE["poster"]


def test_a_gap_ends_the_count() -> None:
    gap = {**BASE, CANDIDATES_ENTRY: ["art/c2_poster_600x900.jpg", "art/other.jpg"]}
    assert candidate_count(gap, "poster") == 1
