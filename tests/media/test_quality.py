from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from reelflow.media.quality import QualityError, measure_quality
from tests.media._clips_b import FFMPEG, VMAF_FFMPEG, Clips, clips_b

__all__ = ["clips_b"]


@pytest.fixture(scope="module")
def degraded(clips_b: Clips, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The ``enc`` clip at 240p in a good and a bad encode."""
    out = tmp_path_factory.mktemp("quality")
    files = {}
    for name, crf in (("good", "18"), ("bad", "45")):
        files[name] = out / f"{name}.mp4"
        subprocess.run(
            [
                FFMPEG,
                "-v",
                "error",
                "-y",
                "-i",
                str(clips_b["enc"]),
                "-t",
                "2",
                "-an",
                "-vf",
                "scale=426:240",
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-crf",
                crf,
                str(files[name]),
            ],
            check=True,
        )
    return files


@pytest.mark.skipif(VMAF_FFMPEG is None, reason="no libvmaf ffmpeg")
def test_vmaf_ranks_encodes(clips_b: Clips, degraded: dict[str, Path]) -> None:
    ref = clips_b["enc"]
    good = measure_quality(
        degraded["good"], ref, ffmpeg_vmaf=VMAF_FFMPEG, ffmpeg=FFMPEG, width=640, height=360
    )
    bad = measure_quality(
        degraded["bad"], ref, ffmpeg_vmaf=VMAF_FFMPEG, ffmpeg=FFMPEG, width=640, height=360
    )
    assert good.metric == bad.metric == "vmaf"
    assert 0 <= bad.value < good.value <= 100


def test_psnr_without_vmaf(clips_b: Clips, degraded: dict[str, Path]) -> None:
    ref = clips_b["enc"]
    good = measure_quality(
        degraded["good"], ref, ffmpeg_vmaf=None, ffmpeg=FFMPEG, width=640, height=360
    )
    bad = measure_quality(
        degraded["bad"], ref, ffmpeg_vmaf=None, ffmpeg=FFMPEG, width=640, height=360
    )
    assert good.metric == "psnr"
    assert 10 < bad.value < good.value < 60


def test_identical_inputs_give_capped_psnr(clips_b: Clips) -> None:
    ref = clips_b["landscape"]
    score = measure_quality(ref, ref, ffmpeg_vmaf=None, ffmpeg=FFMPEG, width=320, height=180)
    assert score.value == 100.0


def test_bad_size_is_rejected(clips_b: Clips) -> None:
    with pytest.raises(QualityError):
        measure_quality(
            clips_b["landscape"],
            clips_b["landscape"],
            ffmpeg_vmaf=None,
            ffmpeg=FFMPEG,
            width=0,
            height=180,
        )
