"""ffprobe into a typed, JSON-serialisable ``MediaInfo``."""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from reelflow.media.errors import ProbeError
from reelflow.media.ffmpeg_run import run_ffprobe_json

# What ffmpeg/ffprobe may open when reading a master: local files only, through the demuxers
# of real media containers and single still images (so QC can still name a still a still).
# Playlists and listings (hls, dash, concat, ...) are refused: they make ffmpeg open other
# local files or URLs, so an extensionless .m3u8 "master" could pull in anything readable.
# format_whitelist matches any of a demuxer's comma-separated names (mov is "mov,mp4,...").
MASTER_FORMATS = (
    "mov", "mp4", "m4a", "3gp", "3g2", "mj2", "matroska", "webm", "mxf", "mpegts", "avi",
    "mpeg", "wav", "w64", "flac", "mp3", "aac", "yuv4mpegpipe",
    "png_pipe", "jpeg_pipe", "webp_pipe", "bmp_pipe", "tiff_pipe", "gif",
)  # fmt: skip
MASTER_INPUT_OPTIONS = (
    "-protocol_whitelist", "file", "-format_whitelist", ",".join(MASTER_FORMATS),
)  # fmt: skip
_NOT_ON_WHITELIST = re.compile(r"\[(\w+) @ 0x[0-9a-f]+\] Format not on whitelist")


class MasterFormatRefused(ProbeError):
    """The master's container is one ffmpeg would follow to other files (HLS, concat, ...)."""

    def __init__(self, path: Path, demuxer: str) -> None:
        self.demuxer = demuxer
        super().__init__(
            f"{path}: container format {demuxer!r} is not accepted for a master (playlists and "
            "listings such as HLS, DASH or concat are refused; accepted: "
            f"{', '.join(MASTER_FORMATS)})"
        )


HDR_TRANSFERS = frozenset({"smpte2084", "arib-std-b67"})
INTERLACED_FIELD_ORDERS = frozenset({"tt", "bb", "tb", "bt"})
# avg and r frame rates further apart than this (relative) mean the timestamps are not CFR.
VFR_RELATIVE_TOLERANCE = 0.01


@dataclass(frozen=True)
class VideoStream:
    index: int
    codec: str
    width: int
    height: int
    pix_fmt: str | None
    fps: float  # the rate to treat the stream as: avg_fps when known, else r_fps
    avg_fps: float
    r_fps: float
    field_order: str | None
    color_transfer: str | None
    color_primaries: str | None
    # Clockwise degrees (0/90/180/270) to turn the coded picture for display; ffmpeg's
    # autorotate applies it when decoding, so outputs have display width/height.
    rotation: int
    sar: str | None
    bit_rate: int | None
    nb_frames: int | None

    @property
    def display_size(self) -> tuple[int, int]:
        if self.rotation in (90, 270):
            return self.height, self.width
        return self.width, self.height

    @property
    def flagged_interlaced(self) -> bool:
        return self.field_order in INTERLACED_FIELD_ORDERS


@dataclass(frozen=True)
class AudioStream:
    index: int
    codec: str
    channels: int
    channel_layout: str | None
    sample_rate: int
    language: str | None


@dataclass(frozen=True)
class MediaInfo:
    format_name: str
    duration_s: float
    size_bytes: int
    bit_rate: int | None
    video: VideoStream | None
    audio: tuple[AudioStream, ...]
    subtitles: tuple[str, ...]  # languages of embedded subtitle streams ("und" if untagged)
    # Container start time: MPEG-TS and edited MP4s do not start at 0, filters report
    # timestamps on this clock.
    start_time_s: float = 0.0

    @property
    def has_audio(self) -> bool:
        return bool(self.audio)

    @property
    def is_vfr(self) -> bool:
        v = self.video
        if v is None or v.avg_fps <= 0 or v.r_fps <= 0:
            return False
        return abs(v.avg_fps - v.r_fps) / v.r_fps > VFR_RELATIVE_TOLERANCE

    @property
    def is_hdr(self) -> bool:
        return self.video is not None and self.video.color_transfer in HDR_TRANSFERS

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MediaInfo:
        video = data.get("video")
        return cls(
            format_name=str(data["format_name"]),
            duration_s=float(data["duration_s"]),
            size_bytes=int(data["size_bytes"]),
            bit_rate=data.get("bit_rate"),
            video=VideoStream(**video) if video else None,
            audio=tuple(AudioStream(**a) for a in data.get("audio", ())),
            subtitles=tuple(data.get("subtitles", ())),
            start_time_s=float(data.get("start_time_s", 0.0)),
        )


def probe(path: str | Path, *, ffprobe: str) -> MediaInfo:
    """Read container and stream facts; raises ProbeError with a reason when unreadable."""
    p = Path(path)
    if not p.is_file():
        raise ProbeError(f"{p}: no such file")
    size = p.stat().st_size
    if size == 0:
        raise ProbeError(f"{p}: file is empty (0 bytes)")
    try:
        data = run_ffprobe_json(
            [*MASTER_INPUT_OPTIONS, "-show_format", "-show_streams", str(p)],
            ffprobe=ffprobe,
            step="probe master",
        )
    except ProbeError as exc:
        refused = _NOT_ON_WHITELIST.search(str(exc))
        if refused:
            raise MasterFormatRefused(p, refused.group(1)) from None
        raise ProbeError(f"{p}: not readable as media: {exc}") from exc
    return parse_probe(data, size_bytes=size)


def parse_probe(data: dict[str, Any], *, size_bytes: int) -> MediaInfo:
    """Build MediaInfo from ffprobe's ``-show_format -show_streams`` JSON."""
    fmt = data.get("format")
    streams = data.get("streams") or []
    if not isinstance(fmt, dict):
        raise ProbeError("ffprobe found no container format")
    video = None
    audio: list[AudioStream] = []
    subtitles: list[str] = []
    for s in streams:
        kind = s.get("codec_type")
        if kind == "video" and video is None and not _is_attached_picture(s):
            video = _video_stream(s)
        elif kind == "audio":
            audio.append(_audio_stream(s))
        elif kind == "subtitle":
            subtitles.append(_tags(s).get("language") or "und")
    return MediaInfo(
        format_name=str(fmt.get("format_name") or "unknown"),
        duration_s=_duration(fmt, streams),
        size_bytes=size_bytes,
        bit_rate=_int(fmt.get("bit_rate")),
        video=video,
        audio=tuple(audio),
        subtitles=tuple(subtitles),
        start_time_s=_float(fmt.get("start_time")) or 0.0,
    )


def _is_attached_picture(stream: dict[str, Any]) -> bool:
    # Cover art in MP4/MKV shows up as a one-frame video stream; it is not the programme.
    disposition = stream.get("disposition") or {}
    return bool(disposition.get("attached_pic"))


def _tags(stream: dict[str, Any]) -> dict[str, str]:
    tags = stream.get("tags") or {}
    return {str(k).lower(): str(v) for k, v in tags.items()}


def _video_stream(s: dict[str, Any]) -> VideoStream:
    avg = _rate(s.get("avg_frame_rate"))
    r = _rate(s.get("r_frame_rate"))
    return VideoStream(
        index=int(s.get("index", 0)),
        codec=str(s.get("codec_name") or "unknown"),
        width=int(s.get("width") or 0),
        height=int(s.get("height") or 0),
        pix_fmt=s.get("pix_fmt") or None,
        fps=avg if avg > 0 else r,
        avg_fps=avg,
        r_fps=r,
        field_order=s.get("field_order") or None,
        color_transfer=s.get("color_transfer") or None,
        color_primaries=s.get("color_primaries") or None,
        rotation=_rotation(s),
        sar=s.get("sample_aspect_ratio") or None,
        bit_rate=_int(s.get("bit_rate")),
        nb_frames=_int(s.get("nb_frames")),
    )


def _audio_stream(s: dict[str, Any]) -> AudioStream:
    return AudioStream(
        index=int(s.get("index", 0)),
        codec=str(s.get("codec_name") or "unknown"),
        channels=int(s.get("channels") or 0),
        channel_layout=s.get("channel_layout") or None,
        sample_rate=int(s.get("sample_rate") or 0),
        language=_tags(s).get("language") or None,
    )


def _rotation(s: dict[str, Any]) -> int:
    """Clockwise display rotation, the way ffmpeg's own autorotate reads it."""
    degrees: float | None = None
    for side in s.get("side_data_list") or []:
        if side.get("side_data_type") == "Display Matrix" and "rotation" in side:
            # ffprobe prints the matrix angle counter-clockwise; autorotate negates it.
            degrees = -float(side["rotation"])
            break
    if degrees is None:
        tag = _tags(s).get("rotate")
        if tag is not None:
            try:
                degrees = float(tag)
            except ValueError:
                degrees = None
    if degrees is None or not math.isfinite(degrees):
        return 0
    # Snap to the nearest quarter turn: only those are applied.
    return round(degrees / 90.0) % 4 * 90


def _rate(value: Any) -> float:
    if not value or not isinstance(value, str):
        return 0.0
    try:
        frac = Fraction(value)
    except (ValueError, ZeroDivisionError):
        return 0.0
    return float(frac) if frac > 0 else 0.0


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _float(value: Any) -> float | None:
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _duration(fmt: dict[str, Any], streams: list[dict[str, Any]]) -> float:
    """Container duration, else the longest stream duration, else 0.0 (unknown)."""
    d = _float(fmt.get("duration"))
    if d is not None and d > 0:
        return d
    stream_durations = [_float(s.get("duration")) for s in streams]
    known = [x for x in stream_durations if x is not None and x > 0]
    return max(known) if known else 0.0
