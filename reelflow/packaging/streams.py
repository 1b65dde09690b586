"""What goes into a package and how each input becomes a Shaka Packager stream: the input
renditions and tracks, their names and checks, and the stream descriptors."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from reelflow.domain.track_classes import TrackClass, track_class_for_picture
from reelflow.packaging.errors import PackagerInputError

AUDIO_GROUP = "audio"


SUBTITLE_GROUP = "subtitles"


_LANG_RE = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*")


_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


# Characters that would break the packager's comma/equals separated stream descriptors.
_DESCRIPTOR_UNSAFE = re.compile(r"[,=]")


StreamKind = Literal["video", "audio", "text"]


@dataclass(frozen=True)
class VideoRendition:
    path: Path
    width: int
    height: int
    bitrate: int  # bits/s, as encoded (the MPD carries the measured bandwidth)
    codec: str = "h264"
    name: str | None = None

    @property
    def stream_name(self) -> str:
        if self.name:
            return self.name
        # H.264 keeps the names of packages made before other codecs came beside it.
        codec = "" if self.codec == "h264" else f"{self.codec}_"
        return f"video_{codec}{self.height}p_{self.bitrate // 1000}k"


@dataclass(frozen=True)
class AudioTrack:
    path: Path
    language: str
    channels: int = 2
    name: str | None = None  # display name in the HLS master; default: the language

    @property
    def stream_name(self) -> str:
        return f"audio_{self.language}_{self.channels}ch"


@dataclass(frozen=True)
class SubtitleTrack:
    path: Path  # WebVTT
    language: str
    name: str | None = None

    @property
    def stream_name(self) -> str:
        return f"text_{self.language}"


@dataclass(frozen=True)
class PlannedStream:
    """One packager stream: its input, where its outputs go, and its DRM label."""

    name: str
    kind: StreamKind
    source: str
    descriptor: str
    track_class: TrackClass | None
    playlist: str
    iframe_playlist: str | None
    language: str | None = None
    width: int | None = None
    height: int | None = None

    def describe(self) -> str:
        size = f" {self.width}x{self.height}" if self.width else ""
        lang = f" [{self.language}]" if self.language else ""
        return f"{self.kind} '{self.name}'{size}{lang} ({self.source})"


def _check_name(name: str, what: str) -> None:
    if not _NAME_RE.fullmatch(name):
        raise PackagerInputError(f"{what} name {name!r} must match {_NAME_RE.pattern}")


def _check_language(language: str, what: str) -> None:
    if not _LANG_RE.fullmatch(language):
        raise PackagerInputError(f"{what}: bad language tag {language!r} (BCP 47, e.g. en, pt-BR)")


def _check_source(path: Path, what: str) -> str:
    source = str(Path(path).resolve())
    if _DESCRIPTOR_UNSAFE.search(source):
        raise PackagerInputError(f"{what}: input path {source!r} contains ',' or '='")
    if not Path(source).is_file():
        raise PackagerInputError(f"{what}: input file {source} does not exist")
    return source


def plan_streams(
    videos: Sequence[VideoRendition],
    audios: Sequence[AudioTrack],
    subtitles: Sequence[SubtitleTrack] = (),
    *,
    encrypted: bool,
) -> list[PlannedStream]:
    """Stream descriptors (outputs relative to the output folder) for every input."""
    if not videos:
        raise PackagerInputError("at least one video rendition is needed")
    streams = [_video_stream(v, encrypted=encrypted) for v in videos]
    streams += [_audio_stream(a, encrypted=encrypted) for a in audios]
    streams += [_subtitle_stream(s) for s in subtitles]
    names = [s.name for s in streams]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise PackagerInputError(f"two streams would share the output name(s) {dupes}")
    return streams


def _video_stream(v: VideoRendition, *, encrypted: bool) -> PlannedStream:
    name = v.stream_name
    _check_name(name, "video rendition")
    what = f"video '{name}' {v.width}x{v.height}"
    source = _check_source(v.path, what)
    tc = track_class_for_picture(v.width, v.height)  # by pixels: a wide 1280x536 rung is HD
    parts = [
        f"in={source}",
        "stream=video",
        f"init_segment={name}/init.mp4",
        f"segment_template={name}/$Number$.m4s",
        f"playlist_name={name}.m3u8",
        f"iframe_playlist_name={name}_iframe.m3u8",
    ]
    if encrypted:
        parts.append(f"drm_label={tc.value}")
    return PlannedStream(
        name, "video", source, ",".join(parts), tc if encrypted else None,
        f"{name}.m3u8", f"{name}_iframe.m3u8", width=v.width, height=v.height,
    )  # fmt: skip


def _track_parts(
    kind: str, name: str, path: Path, language: str, display: str | None
) -> tuple[str, str, str]:
    """Checks shared by audio and subtitle tracks: the stream name and (unsafe-free)
    display name, and the resolved source path."""
    what = f"{kind} track"
    _check_language(language, what)
    _check_name(name, what)
    shown = display or language
    if _DESCRIPTOR_UNSAFE.search(shown) or '"' in shown:
        raise PackagerInputError(f"{what} {name}: name {shown!r} has ',', '=' or '\"'")
    source = _check_source(path, f"{'text' if kind == 'subtitle' else kind} '{name}'")
    return name, shown, source


def _audio_stream(a: AudioTrack, *, encrypted: bool) -> PlannedStream:
    name, display, source = _track_parts("audio", a.stream_name, a.path, a.language, a.name)
    parts = [
        f"in={source}",
        "stream=audio",
        f"init_segment={name}/init.mp4",
        f"segment_template={name}/$Number$.m4s",
        f"playlist_name={name}.m3u8",
        f"hls_group_id={AUDIO_GROUP}",
        f"hls_name={display}",
        f"language={a.language}",
    ]
    if encrypted:
        parts.append(f"drm_label={TrackClass.AUDIO.value}")
    return PlannedStream(
        name, "audio", source, ",".join(parts),
        TrackClass.AUDIO if encrypted else None, f"{name}.m3u8", None, language=a.language,
    )  # fmt: skip


def _subtitle_stream(s: SubtitleTrack) -> PlannedStream:
    name, display, source = _track_parts("subtitle", s.stream_name, s.path, s.language, s.name)
    parts = [
        f"in={source}",
        "stream=text",
        "format=webvtt",
        f"segment_template={name}/$Number$.vtt",
        f"playlist_name={name}.m3u8",
        f"hls_group_id={SUBTITLE_GROUP}",
        f"hls_name={display}",
        f"language={s.language}",
    ]
    return PlannedStream(
        name, "text", source, ",".join(parts), None, f"{name}.m3u8", None, language=s.language
    )
