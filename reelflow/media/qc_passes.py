"""The two QC decode passes: the video (decode errors, truncation, blackdetect and idet in
one filter chain, frame regularity from packet timestamps) and the audio alone (ebur128 and
silencedetect; ebur128 must not share a graph with video outputs or it reads 0 LUFS)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from reelflow.media.errors import FFmpegError, ProbeError
from reelflow.media.ffmpeg_run import FFmpegResult, FFmpegStalled, run_ffmpeg_detailed
from reelflow.media.frame_timing import measure_frame_timing
from reelflow.media.probe import MASTER_INPUT_OPTIONS, MediaInfo
from reelflow.media.qc_report import STANDARD_RATES, QCCheck, QCOptions
from reelflow.media.stderr_tail import stderr_tail

_ERROR_LINE = re.compile(r"\[(error|fatal|panic)\]\s*(.*)")


_BLACK = re.compile(r"black_start:\s*(\S+)\s+black_end:\s*(\S+)")


_IDET_MULTI = re.compile(
    r"Multi frame detection:\s*TFF:\s*(\d+)\s*BFF:\s*(\d+)\s*Progressive:\s*(\d+)"
    r"\s*Undetermined:\s*(\d+)"
)


_LOUDNESS = re.compile(r"I:\s*(-?[\d.]+|-?inf)\s*LUFS")


_SILENCE_START = re.compile(r"silence_start:\s*(-?[\d.]+)")


_SILENCE_END = re.compile(r"silence_end:\s*(-?[\d.]+)")


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


def video_pass(
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


def audio_pass(
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
