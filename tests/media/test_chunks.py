from __future__ import annotations

import itertools
import math

import pytest

from reelflow.media.chunks import Chunk, ChunkPlanError, plan_chunks


def _assert_contiguous(chunks: list[Chunk], duration: float) -> None:
    assert chunks[0].start_s == 0.0
    for a, b in itertools.pairwise(chunks):
        assert math.isclose(a.end_s, b.start_s)
    assert math.isclose(chunks[-1].end_s, duration)
    assert [c.index for c in chunks] == list(range(len(chunks)))


def test_short_title_is_one_chunk() -> None:
    chunks = plan_chunks(25.0, segment_s=6, chunk_segments=10)
    assert chunks == [Chunk(0, 0.0, 25.0)]


def test_chunks_are_whole_segments_and_last_takes_remainder() -> None:
    chunks = plan_chunks(100.0, segment_s=6, chunk_segments=5)
    assert [c.start_s for c in chunks] == [0.0, 30.0, 60.0, 90.0]
    assert all(c.duration_s == 30.0 for c in chunks[:-1])
    assert chunks[-1].duration_s == pytest.approx(10.0)
    for c in chunks:
        assert (c.start_s / 6) == int(c.start_s / 6)
    _assert_contiguous(chunks, 100.0)


def test_sliver_remainder_merges_into_previous_chunk() -> None:
    chunks = plan_chunks(62.0, segment_s=6, chunk_segments=5)
    assert len(chunks) == 2
    assert chunks[-1].start_s == 30.0
    assert chunks[-1].duration_s == pytest.approx(32.0)


def test_exact_multiple_has_no_empty_tail() -> None:
    chunks = plan_chunks(12.0000001, segment_s=2, chunk_segments=3)
    assert len(chunks) == 2
    _assert_contiguous(chunks, 12.0000001)


def test_target_chunk_length_rounds_to_segments() -> None:
    chunks = plan_chunks(600.0, segment_s=6, target_chunk_s=50)
    assert chunks[0].duration_s == 48.0  # 8 segments is closest to 50 s
    _assert_contiguous(chunks, 600.0)


@pytest.mark.parametrize("duration", [0.5, 5.9, 6.0, 59.9, 61.3, 3599.96, 7200.0])
def test_plan_covers_title_exactly(duration: float) -> None:
    chunks = plan_chunks(duration, segment_s=6, chunk_segments=2)
    _assert_contiguous(chunks, duration)
    assert all(c.duration_s > 0 for c in chunks)


@pytest.mark.parametrize(
    ("duration", "kwargs"),
    [
        (0.0, {}),
        (-3.0, {}),
        (float("nan"), {}),
        (10.0, {"segment_s": 0}),
        (10.0, {"chunk_segments": 0}),
        (10.0, {"target_chunk_s": -1}),
    ],
)
def test_bad_parameters_raise_named_error(duration: float, kwargs: dict[str, float]) -> None:
    with pytest.raises(ChunkPlanError):
        plan_chunks(duration, **kwargs)  # type: ignore[arg-type]


def test_chunk_dict_round_trip() -> None:
    c = Chunk(3, 18.0, 6.0)
    assert Chunk.from_dict(c.to_dict()) == c
