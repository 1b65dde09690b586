from __future__ import annotations

import json

import pytest

from reelflow.media.probe import MediaInfo, VideoStream
from reelflow.media.qc import run_qc
from reelflow.media.qc_report import QCOptions, QCReport
from reelflow.media.qc_static import static_checks
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


def _info(width: int, height: int, duration: float, pix_fmt: str = "yuv420p") -> MediaInfo:
    video = VideoStream(
        0, "h264", width, height, pix_fmt, 25.0, 25.0, 25.0, None, None, None, 0, "1:1", None, None
    )
    return MediaInfo("mov,mp4,m4a,3gp,3g2,mj2", duration, 1000, None, video, (), ())


def test_zero_duration_fails() -> None:
    checks = {c.name: c for c in static_checks(_info(640, 360, 0.0), QCOptions())}
    assert checks["duration"].status == "fail"
    assert "zero or unknown duration" in checks["duration"].reason


def test_portrait_and_limits() -> None:
    opts = QCOptions()
    statuses = {
        size: {c.name: c.status for c in static_checks(_info(*size, 10.0), opts)}["resolution"]
        for size in [(1080, 1920), (320, 180), (319, 180), (7680, 4320), (7681, 4320)]
    }
    assert statuses == {
        (1080, 1920): "pass",
        (320, 180): "pass",
        (319, 180): "fail",
        (7680, 4320): "pass",
        (7681, 4320): "fail",
    }
    p10 = {c.name: c.status for c in static_checks(_info(640, 360, 1, "yuv420p10le"), opts)}
    assert p10["pixel_format"] == "pass"


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
