from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from reelflow.media.errors import ProbeError
from reelflow.media.frame_timing import frame_timing, measure_frame_timing
from tests.media.conftest import ClipMaker

MS = Fraction(1, 1000)


def _ms_stamps(fps: float, frames: int) -> list[int]:
    """What a muxer with a 1 ms time base stores for a constant rate."""
    return [round(i * 1000 / fps) for i in range(frames)]


@pytest.mark.parametrize("fps", [24.0, 24000 / 1001, 30000 / 1001, 25.0, 60.0])
def test_millisecond_rounding_of_a_constant_rate_is_regular(fps: float) -> None:
    timing = frame_timing(MS, _ms_stamps(fps, 500))
    assert timing is not None
    assert timing.irregular_share == 0.0
    assert timing.jitter_max_ms <= 1.0
    assert timing.tolerance_ms == 1.0
    assert timing.nominal_ms == pytest.approx(1000 / fps, abs=1.0)


def test_a_fine_time_base_still_tolerates_a_millisecond() -> None:
    # 90 kHz (MPEG-TS), timestamps rounded to whole ms by an upstream muxer.
    tb = Fraction(1, 90000)
    stamps = [stamp * 90 for stamp in _ms_stamps(24.0, 240)]
    timing = frame_timing(tb, stamps)
    assert timing is not None and timing.irregular_share == 0.0
    assert timing.tolerance_ms == 1.0


def test_a_coarse_time_base_tolerates_one_tick() -> None:
    tb = Fraction(1, 600)  # QuickTime's classic time base: a tick is 1.67 ms
    stamps = [round(i * 600 / 29.97) for i in range(300)]
    timing = frame_timing(tb, stamps)
    assert timing is not None and timing.irregular_share == 0.0
    assert timing.tolerance_ms == pytest.approx(1.667, abs=0.001)


def test_dropped_frames_and_spliced_rates_are_irregular() -> None:
    grid = _ms_stamps(25.0, 200)
    dropped = [t for i, t in enumerate(grid) if i % 10 != 5]
    timing = frame_timing(MS, dropped)
    assert timing is not None
    assert timing.irregular_share == pytest.approx(19 / 179, abs=0.01)
    assert timing.nominal_ms == 40.0 and timing.jitter_max_ms == 40.0
    spliced = _ms_stamps(24.0, 48) + [2000 + t for t in _ms_stamps(30.0, 60)]
    mixed = frame_timing(MS, spliced)
    assert mixed is not None and mixed.irregular_share > 0.4


def test_decode_order_and_repeats_do_not_matter() -> None:
    stamps = _ms_stamps(24.0, 100)
    reordered = list(stamps)
    for i in range(1, len(reordered) - 1, 2):  # P before B, as packets arrive
        reordered[i], reordered[i + 1] = reordered[i + 1], reordered[i]
    assert frame_timing(MS, reordered + stamps[:5]) == frame_timing(MS, stamps)


def test_too_few_timestamps_measure_nothing() -> None:
    assert frame_timing(MS, [0, 42]) is None
    assert frame_timing(Fraction(0), [0, 42, 83, 125]) is None


def test_measures_a_real_matroska_file(clip: ClipMaker, ffprobe: str) -> None:
    timing = measure_frame_timing(clip("cfr24_mkv"), 0, ffprobe=ffprobe)
    assert timing is not None
    assert timing.time_base == "1/1000"
    assert timing.frames == 72
    assert timing.irregular_share == 0.0
    assert timing.nominal_ms in (41.0, 42.0)


def test_an_unreadable_file_is_a_probe_error(tmp_path: Path, ffprobe: str) -> None:
    junk = tmp_path / "junk.mkv"
    junk.write_bytes(b"\x1a\x45\xdf\xa3" + b"\x00" * 64)
    with pytest.raises(ProbeError):
        measure_frame_timing(junk, 0, ffprobe=ffprobe)
