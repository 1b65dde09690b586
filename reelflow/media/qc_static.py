"""QC checks read from ffprobe alone (a failing one stops QC before any decoding), and the
metadata warnings (rotation, HDR) given once the decode passed."""

from __future__ import annotations

from reelflow.media.probe import MediaInfo
from reelflow.media.qc_report import UNKNOWN_CODECS, QCCheck, QCOptions


def _is_still_image(info: MediaInfo) -> bool:
    return info.format_name.endswith("_pipe") or info.format_name in ("image2", "webp")


def static_checks(info: MediaInfo, opts: QCOptions) -> list[QCCheck]:
    v = info.video
    if v is None:
        kind = "audio only" if info.has_audio else "no streams"
        return [QCCheck("video_stream", "fail", f"no video stream ({kind})", 0)]
    if _is_still_image(info):
        return [QCCheck("video_stream", "fail", f"a still image ({v.codec}), not a video", v.codec)]
    checks = [QCCheck("video_stream", "pass", "video stream present", v.codec)]
    if v.codec in UNKNOWN_CODECS:
        checks.append(QCCheck("codec", "fail", "unknown or undecodable video codec", v.codec))
    else:
        checks.append(QCCheck("codec", "pass", "known video codec", v.codec))
    if info.duration_s <= 0:
        checks.append(QCCheck("duration", "fail", "zero or unknown duration", info.duration_s))
    else:
        checks.append(QCCheck("duration", "pass", f"{info.duration_s:.3f} s", info.duration_s))
    checks.append(_resolution_check(v.width, v.height, opts))
    if v.pix_fmt in opts.allowed_pix_fmts:
        checks.append(QCCheck("pixel_format", "pass", "supported", v.pix_fmt))
    else:
        checks.append(
            QCCheck(
                "pixel_format",
                "fail",
                f"unsupported pixel format {v.pix_fmt} (not a common 8/10-bit YUV format)",
                v.pix_fmt,
            )
        )
    return checks


def _resolution_check(width: int, height: int, opts: QCOptions) -> QCCheck:
    size = f"{width}x{height}"
    long_side, short_side = max(width, height), min(width, height)
    if long_side < opts.min_width or short_side < opts.min_height:
        reason = f"picture {size} is smaller than {opts.min_width}x{opts.min_height}"
        return QCCheck("resolution", "fail", reason, size)
    if long_side > opts.max_width or short_side > opts.max_height:
        reason = f"picture {size} is larger than {opts.max_width}x{opts.max_height}"
        return QCCheck("resolution", "fail", reason, size)
    return QCCheck("resolution", "pass", "within limits", size)


def metadata_warnings(info: MediaInfo) -> list[QCCheck]:
    v = info.video
    assert v is not None
    checks = []
    if v.rotation:
        checks.append(
            QCCheck("rotation", "warn", f"display rotation {v.rotation} degrees", v.rotation)
        )
    else:
        checks.append(QCCheck("rotation", "pass", "no rotation", 0))
    if info.is_hdr:
        checks.append(QCCheck("hdr", "warn", f"HDR transfer {v.color_transfer}", v.color_transfer))
    else:
        checks.append(QCCheck("hdr", "pass", "SDR", v.color_transfer))
    return checks
