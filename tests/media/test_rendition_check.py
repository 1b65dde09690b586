"""A rendition is checked for its frame count, duration and a keyframe at every GOP start."""

from __future__ import annotations

from pathlib import Path

from reelflow.media.chunks import Chunk
from reelflow.media.encode import encode_chunk
from reelflow.media.rendition_check import verify_rendition
from tests.media._clips_b import FFMPEG, FFPROBE, Clips, clips_b
from tests.media.test_encode import RUNGS

__all__ = ["clips_b"]


def test_verify_flags_wrong_frame_count_and_missing_gops(clips_b: Clips, tmp_path: Path) -> None:
    chunk = Chunk(0, 0.0, 8.0)
    rung = RUNGS[:1]
    out = encode_chunk(clips_b["enc"], chunk, rung, tmp_path, ffmpeg=FFMPEG, fps=25, gop_s=4)
    check = verify_rendition(
        out["240p"], ffprobe=FFPROBE, expected_duration_s=8.0, expected_frames=210, gop_s=2, fps=25
    )
    assert not check.ok
    joined = " | ".join(check.problems)
    assert "frame count 200" in joined
    assert "no keyframe at GOP start(s) 2, 6" in joined
