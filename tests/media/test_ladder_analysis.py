"""The per-title analysis: sample windows, and ladders measured on real encodes."""

from __future__ import annotations

from pathlib import Path

import pytest

from reelflow.domain.ladders import Ladder
from reelflow.media.ladder import LadderOptions
from reelflow.media.ladder_analysis import analyse_per_title, sample_windows
from reelflow.media.ladder_curves import bitrate_for_quality
from reelflow.media.probe import probe
from tests.media._clips_b import FFMPEG, FFPROBE, VMAF_FFMPEG, Clips, clips_b

__all__ = ["clips_b"]


def test_sample_windows_spread_and_avoid_excluded() -> None:
    wins = sample_windows(60.0, count=3, length_s=2.0)
    assert wins == [(9.0, 2.0), (29.0, 2.0), (49.0, 2.0)]
    wins = sample_windows(60.0, count=3, length_s=2.0, exclude=[(0.0, 10.0), (48.0, 60.0)])
    for start, length in wins:
        assert not (start < 10.0 and start + length > 0.0)
        assert not (start < 60.0 and start + length > 48.0)
    assert sample_windows(3.0, count=3, length_s=2.0) == [(0.0, 3.0)]


_FAST = LadderOptions(sample_count=2, sample_s=1.0, max_kbps=8000)


@pytest.mark.slow
@pytest.mark.skipif(VMAF_FFMPEG is None, reason="no libvmaf ffmpeg")
def test_per_title_ladders_follow_complexity(clips_b: Clips) -> None:
    ladders = {}
    for name in ("low", "high"):
        info = probe(clips_b[name], ffprobe=FFPROBE)
        ladders[name] = analyse_per_title(
            clips_b[name], info, ffmpeg=FFMPEG, ffmpeg_vmaf=VMAF_FFMPEG, options=_FAST
        )
    low, high = ladders["low"], ladders["high"]
    for ladder in (low, high):
        assert ladder.method == "per_title" and ladder.metric == "vmaf"
        assert len(ladder.measurements) == 2 * 4  # 640x360 and 426x240, 4 CRFs each
        assert ladder.hull and set(ladder.hull) <= set(ladder.measurements)
        assert all(r.width <= 640 and r.height <= 360 for r in ladder.rungs)
    # The easy title needs fewer bits for its top rung and for the whole ladder.
    assert low.top.bitrate_kbps < high.top.bitrate_kbps
    assert low.total_kbps < high.total_kbps
    # ...and any quality a ladder spans costs it fewer bits.
    for quality in (60.0, 80.0, 90.0):
        easy, hard = bitrate_for_quality(low.hull, quality), bitrate_for_quality(high.hull, quality)
        assert easy is not None and (hard is None or easy < hard), quality
    assert Ladder.from_dict(low.to_dict()) == low


def test_per_title_falls_back_to_psnr(clips_b: Clips, tmp_path: Path) -> None:
    info = probe(clips_b["low"], ffprobe=FFPROBE)
    progress: list[float] = []
    opts = LadderOptions(sample_count=1, sample_s=1.0, analysis_resolutions=1, crf_values=(24, 36))
    ladder = analyse_per_title(
        clips_b["low"],
        info,
        ffmpeg=FFMPEG,
        ffmpeg_vmaf=None,
        options=opts,
        on_progress=progress.append,
        work_dir=tmp_path,
    )
    assert ladder.metric == "psnr"
    assert all(20 < m.quality <= 100 for m in ladder.measurements)
    assert progress[-1] == pytest.approx(1.0)
    assert list(tmp_path.iterdir()) == []  # work files cleaned up
