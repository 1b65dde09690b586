"""Quality control of a master: named pass / warn / fail checks plus encoder adaptations.

Cheap checks come from ffprobe; a failing one stops QC before any decoding. Then at
most two decode passes: one over the video (decode errors, truncation, blackdetect and
idet in one filter chain) and one audio-only pass (ebur128 + silencedetect; ebur128 must
not share a graph with video outputs or it reads 0 LUFS). Frame regularity comes from the
packet timestamps (``frame_timing``), which a demux reads without decoding.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from reelflow.media.errors import FFmpegError, ProbeError
from reelflow.media.frame_timing import measure_frame_timing
from reelflow.media.ffmpeg_run import FFmpegResult, FFmpegStalled, run_ffmpeg_detailed
from reelflow.media.probe import MASTER_INPUT_OPTIONS, MediaInfo, probe
from reelflow.media.stderr_tail import stderr_tail

Status = Literal["pass", "warn", "fail"]

DEFAULT_PIX_FMTS: tuple[str, ...] = (
    "yuv420p",
    "yuvj420p",
    "yuv422p",
    "yuvj422p",
    "yuv444p",
    "yuvj444p",
    "yuv420p10le",
    "yuv422p10le",
    "yuv444p10le",
    "nv12",
    "p010le",
)
UNKNOWN_CODECS = frozenset({"unknown", "none", ""})
STANDARD_RATES = (23.976, 24.0, 25.0, 29.97, 30.0, 47.952, 48.0, 50.0, 59.94, 60.0)

_ERROR_LINE = re.compile(r"\[(error|fatal|panic)\]\s*(.*)")
_BLACK = re.compile(r"black_start:\s*(\S+)\s+black_end:\s*(\S+)")
_IDET_MULTI = re.compile(
    r"Multi frame detection:\s*TFF:\s*(\d+)\s*BFF:\s*(\d+)\s*Progressive:\s*(\d+)"
    r"\s*Undetermined:\s*(\d+)"
)
_LOUDNESS = re.compile(r"I:\s*(-?[\d.]+|-?inf)\s*LUFS")
_SILENCE_START = re.compile(r"silence_start:\s*(-?[\d.]+)")
_SILENCE_END = re.compile(r"silence_end:\s*(-?[\d.]+)")


@dataclass(frozen=True)
class QCOptions:
    loudness_target_lufs: float = -23.0
    loudness_tolerance_lu: float = 2.0
    silence_max_s: float = 5.0
    silence_threshold_db: float = -50.0
    black_min_s: float = 0.5
    black_pixel_threshold: float = 0.10
    # Limits on the long and short side, so portrait masters pass like landscape ones.
    min_width: int = 320
    min_height: int = 180
    max_width: int = 7680
    max_height: int = 4320
    allowed_pix_fmts: tuple[str, ...] = DEFAULT_PIX_FMTS
    # Share of frame durations off the nominal (beyond time-base rounding) that makes it VFR.
    vfr_threshold: float = 0.05
    # Share of interlaced frames (idet, one dominant field order) for unflagged sources.
    interlace_threshold: float = 0.5
    decode_timeout_s: float | None = None
    # Decoder errors tolerated (a broadcast capture cut mid-GOP complains once at the start).
    max_decode_errors: int = 0


@dataclass(frozen=True)
class QCCheck:
    name: str
    status: Status
    reason: str
    value: str | float | None = None


@dataclass
class Adaptations:
    """What the encoder must do differently for this master."""

    deinterlace: bool = False
    force_cfr_fps: float | None = None
    rotate_degrees: int = 0  # clockwise; ffmpeg's autorotate applies it on decode
    normalize_loudness: bool = False
    hdr: bool = False
    no_audio: bool = False


@dataclass
class QCReport:
    checks: list[QCCheck] = field(default_factory=list)
    adaptations: Adaptations = field(default_factory=Adaptations)
    media: MediaInfo | None = None

    @property
    def passed(self) -> bool:
        return not any(c.status == "fail" for c in self.checks)

    @property
    def failures(self) -> list[QCCheck]:
        return [c for c in self.checks if c.status == "fail"]

    @property
    def warnings(self) -> list[QCCheck]:
        return [c for c in self.checks if c.status == "warn"]

    def check(self, name: str) -> QCCheck | None:
        return next((c for c in self.checks if c.name == name), None)

    def summary(self) -> str:
        if not self.passed:
            return "failed: " + "; ".join(f"{c.name}: {c.reason}" for c in self.failures)
        if self.warnings:
            return "passed with warnings: " + "; ".join(c.name for c in self.warnings)
        return "passed"

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "summary": self.summary(),
            "checks": [asdict(c) for c in self.checks],
            "adaptations": asdict(self.adaptations),
            "media": self.media.to_dict() if self.media else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QCReport:
        media = data.get("media")
        return cls(
            checks=[QCCheck(**c) for c in data.get("checks", [])],
            adaptations=Adaptations(**data.get("adaptations", {})),
            media=MediaInfo.from_dict(media) if media else None,
        )


def run_qc(
    path: str | Path,
    *,
    ffmpeg: str,
    ffprobe: str,
    options: QCOptions | None = None,
    on_progress: Callable[[float], None] | None = None,
) -> QCReport:
    """QC one master file. Never raises for bad media: failures are checks in the report."""
    opts = options or QCOptions()
    report = QCReport()
    try:
        info = probe(path, ffprobe=ffprobe)
    except ProbeError as exc:
        report.checks.append(QCCheck("probe", "fail", str(exc)))
        return report
    report.media = info
    report.checks.append(QCCheck("probe", "pass", "readable", info.format_name))
    report.checks.extend(_static_checks(info, opts))
    if not report.passed:
        return report  # nothing to decode or not worth decoding

    has_audio = info.has_audio
    video_share = 0.8 if has_audio else 1.0

    def video_progress(f: float) -> None:
        if on_progress is not None:
            on_progress(f * video_share)

    report.checks.extend(_video_pass(Path(path), info, opts, (ffmpeg, ffprobe), video_progress))
    if not report.passed:
        return report
    report.checks.extend(_metadata_warnings(info))
    if has_audio:

        def audio_progress(f: float) -> None:
            if on_progress is not None:
                on_progress(video_share + f * (1 - video_share))

        report.checks.extend(_audio_pass(Path(path), info, opts, ffmpeg, audio_progress))
    else:
        report.checks.append(QCCheck("audio", "warn", "no audio stream", 0))
    report.adaptations = _adaptations(report, info)
    if on_progress is not None:
        on_progress(1.0)
    return report


# ---- static checks (ffprobe only) --------------------------------------------------


def _is_still_image(info: MediaInfo) -> bool:
    return info.format_name.endswith("_pipe") or info.format_name in ("image2", "webp")


def _static_checks(info: MediaInfo, opts: QCOptions) -> list[QCCheck]:
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


def _metadata_warnings(info: MediaInfo) -> list[QCCheck]:
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


# ---- video pass --------------------------------------------------------------------


def _decode_pass(
    args: list[str],
    info: MediaInfo,
    opts: QCOptions,
    ffmpeg: str,
    on_progress: Callable[[float], None],
    *,
    check: str,
) -> FFmpegResult | QCCheck:
    """One full decode pass; an ffmpeg failure becomes the failing ``check``."""
    try:
        return run_ffmpeg_detailed(
            args,
            ffmpeg=ffmpeg,
            duration_s=info.duration_s,
            on_progress=on_progress,
            timeout_s=opts.decode_timeout_s,
            follow_progress=True,
        )
    except FFmpegStalled:
        raise  # a hung ffmpeg says nothing about the media: the activity retries
    except FFmpegError as exc:
        last_line = stderr_tail(exc.stderr_tail, lines=1)
        what = "decode failed" if check == "decode" else "audio decode failed"
        return QCCheck(check, "fail", f"{what}: {last_line or exc}", None)


def _video_pass(
    path: Path,
    info: MediaInfo,
    opts: QCOptions,
    tools: tuple[str, str],
    on_progress: Callable[[float], None],
) -> list[QCCheck]:
    ffmpeg, ffprobe = tools
    chain = f"idet,blackdetect=d={opts.black_min_s}:pix_th={opts.black_pixel_threshold}"
    assert info.video is not None
    # By index: cover art can be an earlier "video" stream than the programme.
    args = ["-loglevel", "level+info", *MASTER_INPUT_OPTIONS, "-i", str(path)]
    args += ["-map", f"0:{info.video.index}"]
    args += ["-vf", chain, "-an", "-sn", "-dn", "-f", "null", "-"]
    result = _decode_pass(args, info, opts, ffmpeg, on_progress, check="decode")
    if isinstance(result, QCCheck):
        return [result]
    stderr = result.stderr
    decoded_s = result.out_time_s or 0.0
    checks = [_decode_check(stderr, decoded_s, info.duration_s, opts.max_decode_errors)]
    if checks[0].status == "fail":
        return checks
    checks.append(_black_check(stderr, info, decoded_s, opts))
    checks.append(_interlace_check(stderr, info, opts))
    checks.append(_frame_rate_check(path, info, opts, ffprobe))
    return checks


def _error_lines(stderr: str) -> list[str]:
    # Complaints of the null muxer about VFR timestamps say nothing about the input.
    lines = (line for line in stderr.splitlines() if not line.startswith("[null @"))
    return [m.group(2).strip() for m in map(_ERROR_LINE.search, lines) if m]


def _decode_check(stderr: str, decoded_s: float, duration_s: float, allowed: int) -> QCCheck:
    errors = _error_lines(stderr)
    if len(errors) > allowed:
        return QCCheck(
            "decode", "fail", f"{len(errors)} decode errors, first: {errors[0]}", len(errors)
        )
    # Audio may run a little past the video; a bigger gap means the video stops early.
    slack = max(1.0, 0.02 * duration_s)
    if decoded_s < duration_s - slack:
        reason = f"truncated: decoded {decoded_s:.2f} s of {duration_s:.2f} s"
        return QCCheck("decode", "fail", reason, decoded_s)
    return QCCheck("decode", "pass", f"decoded {decoded_s:.2f} s, {len(errors)} errors", decoded_s)


def _black_check(stderr: str, info: MediaInfo, decoded_s: float, opts: QCOptions) -> QCCheck:
    start = info.start_time_s
    end = start + min(decoded_s, info.duration_s) if decoded_s > 0 else start + info.duration_s
    head = tail = 0.0
    fps = info.video.fps if info.video else 0.0
    frame_s = 1.0 / fps if fps > 0 else 0.0
    for m in _BLACK.finditer(stderr):
        b_start, b_end = float(m.group(1)), float(m.group(2))
        if b_start <= start + 0.1:
            head = max(head, b_end - start)
        # At EOF blackdetect's end is the last black frame's start: add that frame.
        if b_end >= end - 0.1 - frame_s:
            tail = max(tail, min(end, b_end + frame_s) - b_start)
    value = f"head={head:.2f}s tail={tail:.2f}s"
    parts = [f"{what} {secs:.2f} s" for what, secs in (("head", head), ("tail", tail)) if secs]
    if parts and max(head, tail) >= opts.black_min_s:
        return QCCheck("black_frames", "warn", "black frames at " + ", ".join(parts), value)
    return QCCheck("black_frames", "pass", "no black head or tail", value)


def _interlace_check(stderr: str, info: MediaInfo, opts: QCOptions) -> QCCheck:
    v = info.video
    assert v is not None
    matches = _IDET_MULTI.findall(stderr)
    tff, bff, prog, _undetermined = (int(x) for x in matches[-1]) if matches else (0, 0, 0, 0)
    decided = tff + bff + prog
    value = f"tff={tff} bff={bff} progressive={prog} field_order={v.field_order}"
    interlaced_share = max(tff, bff) / decided if decided else 0.0
    # idet alone is fooled by sharp horizontal detail (test patterns, text), which shows
    # up as a mix of both field orders; real interlace has one dominant order.
    one_order = min(tff, bff) <= 0.1 * max(tff, bff)
    if v.flagged_interlaced:
        if decided and prog / decided > 0.8:
            return QCCheck("interlace", "pass", "flagged interlaced but content progressive", value)
        return QCCheck("interlace", "warn", f"interlaced ({v.field_order}): deinterlace", value)
    if v.field_order == "progressive":
        return QCCheck("interlace", "pass", "progressive", value)
    if one_order and interlaced_share >= opts.interlace_threshold:
        return QCCheck("interlace", "warn", "interlaced content detected: deinterlace", value)
    return QCCheck("interlace", "pass", "progressive", value)


def _frame_rate_check(path: Path, info: MediaInfo, opts: QCOptions, ffprobe: str) -> QCCheck:
    assert info.video is not None
    try:
        timing = measure_frame_timing(path, info.video.index, ffprobe=ffprobe)
    except ProbeError as exc:
        # Forcing a constant rate is the safe remedy for timestamps nobody can read.
        fps = cfr_target(info)
        reason = f"frame timestamps unreadable ({exc}): force {fps:g} fps"
        return QCCheck("frame_rate", "warn", reason, None)
    share = timing.irregular_share if timing else 0.0
    measured = timing.describe() if timing else "too few frames to measure"
    if share > opts.vfr_threshold or info.is_vfr:
        fps = cfr_target(info)
        reason = f"variable frame rate: {measured}: force {fps:g} fps"
        return QCCheck("frame_rate", "warn", reason, share)
    return QCCheck("frame_rate", "pass", f"constant frame rate: {measured}", share)


def cfr_target(info: MediaInfo) -> float:
    """The constant rate a VFR master is resampled to: the nearest broadcast rate."""
    v = info.video
    fps = (v.avg_fps or v.r_fps) if v else 0.0
    if fps <= 0:
        return 25.0
    nearest = min(STANDARD_RATES, key=lambda r: abs(r - fps))
    return nearest if abs(nearest - fps) / fps < 0.03 else round(fps, 3)


# ---- audio pass --------------------------------------------------------------------


def _audio_pass(
    path: Path,
    info: MediaInfo,
    opts: QCOptions,
    ffmpeg: str,
    on_progress: Callable[[float], None],
) -> list[QCCheck]:
    # framelog=verbose keeps the per-100 ms lines out of stderr at our log level.
    chain = (
        "ebur128=framelog=verbose,"
        f"silencedetect=n={opts.silence_threshold_db}dB:d={opts.silence_max_s}"
    )
    args = ["-loglevel", "level+info", *MASTER_INPUT_OPTIONS, "-i", str(path)]
    args += ["-map", "0:a:0", "-vn", "-sn", "-dn"]
    args += ["-af", chain, "-f", "null", "-"]
    result = _decode_pass(args, info, opts, ffmpeg, on_progress, check="audio_decode")
    if isinstance(result, QCCheck):
        return [result]
    stderr = result.stderr
    errors = _error_lines(stderr)
    if errors:
        reason = f"{len(errors)} audio decode errors, first: {errors[0]}"
        return [QCCheck("audio_decode", "fail", reason, len(errors))]
    end = info.start_time_s + (result.out_time_s or info.duration_s)
    return [
        QCCheck("audio", "pass", f"{len(info.audio)} audio stream(s)", len(info.audio)),
        _loudness_check(stderr, opts),
        _silence_check(stderr, end, opts),
    ]


def _loudness_check(stderr: str, opts: QCOptions) -> QCCheck:
    found = _LOUDNESS.findall(stderr)
    if not found:
        return QCCheck("loudness", "warn", "integrated loudness could not be measured", None)
    lufs = float(found[-1])  # the summary comes last
    low = opts.loudness_target_lufs - opts.loudness_tolerance_lu
    high = opts.loudness_target_lufs + opts.loudness_tolerance_lu
    if low <= lufs <= high:
        return QCCheck("loudness", "pass", f"{lufs:.1f} LUFS within {low:g}..{high:g}", lufs)
    reason = f"{lufs:.1f} LUFS outside {low:g}..{high:g}: normalise"
    return QCCheck("loudness", "warn", reason, lufs)


def _silence_check(stderr: str, end_s: float, opts: QCOptions) -> QCCheck:
    starts = [float(x) for x in _SILENCE_START.findall(stderr)]
    ends = [float(x) for x in _SILENCE_END.findall(stderr)]
    # A silence still running at EOF may have no end line.
    ends += [end_s] * (len(starts) - len(ends))
    longest = max((e - s for s, e in zip(starts, ends, strict=False)), default=0.0)
    if starts and longest >= opts.silence_max_s:
        reason = f"{len(starts)} silence(s) over {opts.silence_max_s:g} s, longest {longest:.1f} s"
        return QCCheck("silence", "warn", reason, round(longest, 3))
    return QCCheck("silence", "pass", f"no silence over {opts.silence_max_s:g} s", 0.0)


def _adaptations(report: QCReport, info: MediaInfo) -> Adaptations:
    def warned(name: str) -> bool:
        c = report.check(name)
        return c is not None and c.status == "warn"

    v = info.video
    return Adaptations(
        deinterlace=warned("interlace"),
        force_cfr_fps=cfr_target(info) if warned("frame_rate") else None,
        rotate_degrees=v.rotation if v else 0,
        normalize_loudness=warned("loudness"),
        hdr=info.is_hdr,
        no_audio=not info.has_audio,
    )
