from __future__ import annotations

import json

import pytest

from reelflow.media.qc import run_qc
from reelflow.media.qc_report import QCOptions, QCReport
from tests.media.conftest import ClipMaker


def _status(report: QCReport, name: str) -> str:
    check = report.check(name)
    assert check is not None, f"check {name} missing: {[c.name for c in report.checks]}"
    return check.status


def test_clean_clip_passes_every_check(clip: ClipMaker, ffmpeg: str, ffprobe: str) -> None:
    seen: list[float] = []
    report = run_qc(clip("clean"), ffmpeg=ffmpeg, ffprobe=ffprobe, on_progress=seen.append)
    assert report.passed, report.summary()
    assert report.warnings == [], report.summary()
    names = {c.name for c in report.checks}
    assert {"probe", "decode", "black_frames", "interlace", "frame_rate", "loudness"} <= names
    loudness = report.check("loudness")
    assert loudness is not None and loudness.value == pytest.approx(-23.0, abs=1.0)
    assert report.adaptations.normalize_loudness is False
    assert seen and seen[-1] == 1.0


def test_report_round_trips_through_json(clip: ClipMaker, ffmpeg: str, ffprobe: str) -> None:
    report = run_qc(clip("clean"), ffmpeg=ffmpeg, ffprobe=ffprobe)
    data = json.loads(json.dumps(report.to_dict()))
    assert data["passed"] is True
    again = QCReport.from_dict(data)
    assert again.checks == report.checks
    assert again.adaptations == report.adaptations
    assert again.media == report.media


def test_loud_audio_warns_and_asks_for_normalisation(
    clip: ClipMaker, ffmpeg: str, ffprobe: str
) -> None:
    report = run_qc(clip("loud"), ffmpeg=ffmpeg, ffprobe=ffprobe)
    assert report.passed
    assert _status(report, "loudness") == "warn"
    assert report.adaptations.normalize_loudness is True
    # A wider tolerance accepts the same file.
    relaxed = run_qc(
        clip("loud"),
        ffmpeg=ffmpeg,
        ffprobe=ffprobe,
        options=QCOptions(loudness_target_lufs=-12.0, loudness_tolerance_lu=3.0),
    )
    assert _status(relaxed, "loudness") == "pass"


def test_silence_warns(clip: ClipMaker, ffmpeg: str, ffprobe: str) -> None:
    report = run_qc(clip("silent"), ffmpeg=ffmpeg, ffprobe=ffprobe)
    assert report.passed
    assert _status(report, "silence") == "warn"
    silence = report.check("silence")
    assert silence is not None and isinstance(silence.value, float) and silence.value >= 6.5


def test_black_head_and_tail_warn(clip: ClipMaker, ffmpeg: str, ffprobe: str) -> None:
    report = run_qc(clip("black_edges"), ffmpeg=ffmpeg, ffprobe=ffprobe)
    check = report.check("black_frames")
    assert check is not None and check.status == "warn"
    assert "head 2.00 s" in check.reason and "tail 1.00 s" in check.reason


def test_interlaced_warns_and_deinterlaces(clip: ClipMaker, ffmpeg: str, ffprobe: str) -> None:
    report = run_qc(clip("interlaced"), ffmpeg=ffmpeg, ffprobe=ffprobe)
    assert report.passed
    assert _status(report, "interlace") == "warn"
    assert report.adaptations.deinterlace is True
    # No audio in this clip: a warning plus the adaptation flag.
    assert _status(report, "audio") == "warn"
    assert report.adaptations.no_audio is True


def test_progressive_test_pattern_is_not_called_interlaced(
    clip: ClipMaker, ffmpeg: str, ffprobe: str
) -> None:
    # testsrc2 fools idet into mixed TFF/BFF verdicts; the check must not be fooled.
    report = run_qc(clip("video_only"), ffmpeg=ffmpeg, ffprobe=ffprobe)
    assert _status(report, "interlace") == "pass"
    assert report.adaptations.deinterlace is False


def test_vfr_warns_and_forces_cfr(clip: ClipMaker, ffmpeg: str, ffprobe: str) -> None:
    report = run_qc(clip("vfr"), ffmpeg=ffmpeg, ffprobe=ffprobe)
    assert report.passed, report.summary()
    assert _status(report, "frame_rate") == "warn"
    assert report.adaptations.force_cfr_fps == 25.0


def test_rotation_warns(clip: ClipMaker, ffmpeg: str, ffprobe: str) -> None:
    report = run_qc(clip("rotated"), ffmpeg=ffmpeg, ffprobe=ffprobe)
    assert report.passed
    assert _status(report, "rotation") == "warn"
    assert report.adaptations.rotate_degrees in (90, 270)


def test_hdr_is_flagged(clip: ClipMaker, ffmpeg: str, ffprobe: str) -> None:
    report = run_qc(clip("hdr"), ffmpeg=ffmpeg, ffprobe=ffprobe)
    assert _status(report, "hdr") == "warn"
    assert report.adaptations.hdr is True


@pytest.mark.parametrize(
    ("name", "check"),
    [("tiny", "resolution"), ("huge", "resolution"), ("rgb", "pixel_format")],
)
def test_static_failures(clip: ClipMaker, ffmpeg: str, ffprobe: str, name: str, check: str) -> None:
    report = run_qc(clip(name), ffmpeg=ffmpeg, ffprobe=ffprobe)
    assert not report.passed
    assert _status(report, check) == "fail"
    # Static failures stop QC before any decode pass.
    assert report.check("decode") is None


@pytest.mark.parametrize("container", ["mkv", "mp4", "mov"])
def test_constant_24fps_passes_in_every_container(
    clip: ClipMaker, ffmpeg: str, ffprobe: str, container: str
) -> None:
    # Matroska's millisecond time base rounds 1/24 s to 41 or 42 ms: that is not VFR.
    report = run_qc(clip(f"cfr24_{container}"), ffmpeg=ffmpeg, ffprobe=ffprobe)
    check = report.check("frame_rate")
    assert check is not None and check.status == "pass", check
    assert check.value == 0.0
    assert report.adaptations.force_cfr_fps is None
    if container == "mkv":
        assert "time base 1/1000" in check.reason


@pytest.mark.parametrize(
    ("name", "least_share"),
    [("vfr_drops_mkv", 0.05), ("vfr_24_30_mkv", 0.3), ("vfr", 0.3)],
)
def test_real_vfr_still_warns_with_jitter_and_time_base(
    clip: ClipMaker, ffmpeg: str, ffprobe: str, name: str, least_share: float
) -> None:
    report = run_qc(clip(name), ffmpeg=ffmpeg, ffprobe=ffprobe)
    check = report.check("frame_rate")
    assert check is not None and check.status == "warn", check
    assert isinstance(check.value, float) and check.value > least_share
    assert f"{check.value:.0%} of" in check.reason
    assert "jitter p95" in check.reason and "time base 1/" in check.reason
    assert report.adaptations.force_cfr_fps is not None
