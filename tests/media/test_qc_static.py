"""QC's ffprobe-only checks on a described master: duration, size limits, pixel formats."""

from __future__ import annotations

from reelflow.media.probe import MediaInfo, VideoStream
from reelflow.media.qc_report import QCOptions
from reelflow.media.qc_static import static_checks


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
