"""Shaka Packager wrapper: renditions in, one CMAF package (static DASH MPD + HLS) out.

Layout of ``out_dir`` (all manifest URLs are relative, so the folder can be served as is)::

    manifest.mpd  master.m3u8
    <stream>.m3u8  <stream>_iframe.m3u8 (video)  <stream>/init.mp4  <stream>/<n>.m4s
    <subs>.m3u8  <subs>/<n>.vtt         thumbs/<thumbnails vtt + sprites> (optional)

Encryption: cbcs, no clear lead, one raw key per track class (the class is the packager's
``drm_label``). Keys go to the packager in a 0600 flag file, never on the command line
(``/proc/<pid>/cmdline`` is world-readable) nor in error messages.

HLS key URIs: the packager takes a single ``--hls_key_uri`` for every stream and writes it
into both the ``identity`` and the FairPlay ``EXT-X-KEY`` lines. We pass a placeholder and
then write ``skd://<kid hex>`` (``key_uri_template``) into each media playlist with the KID
of its track class; the playback API picks the line per client at serve time
(``reelflow.playback_api.delivery.manifest_filter.rewrite_hls_keys``).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import m3u8

from reelflow.domain.content_keys import ContentKey
from reelflow.domain.track_classes import TrackClass, track_class_for_height
from reelflow.media.watchdog import StallWatchdog, SubprocessStalled, current_stall_limits
from reelflow.packaging import drm
from reelflow.packaging.errors import PackagerError, PackagerInputError

MPD_NAME = "manifest.mpd"
HLS_MASTER_NAME = "master.m3u8"
THUMBS_DIR = "thumbs"
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


@dataclass(frozen=True)
class Representation:
    name: str
    kind: StreamKind
    width: int | None
    height: int | None
    bandwidth: int
    track_class: TrackClass | None
    language: str | None
    codecs: str | None
    playlist: str
    iframe_playlist: str | None
    init_segment: str | None
    segments: tuple[str, ...]
    source: str

    def as_row(self) -> dict[str, Any]:
        """What the catalog keeps of it (``packages.representations``): JSON-ready."""
        return {
            "name": self.name,
            "kind": str(self.kind),
            "width": self.width,
            "height": self.height,
            "bandwidth": self.bandwidth,
            "track_class": str(self.track_class) if self.track_class else None,
            "language": self.language,
            "codecs": self.codecs,
            "playlist": self.playlist,
        }


@dataclass(frozen=True)
class PackageResult:
    """What was packaged; paths are relative to ``out_dir`` unless named ``*_path``."""

    out_dir: str
    mpd: str
    hls_master: str
    files: tuple[str, ...]
    drm_systems: tuple[str, ...]  # e.g. clearkey, fairplay, playready, widevine; () when clear
    kids: dict[str, str]  # track class value -> KID hex
    representations: tuple[Representation, ...]
    segment_duration: int
    thumbnails_vtt: str | None = None

    @property
    def encrypted(self) -> bool:
        return bool(self.kids)

    @property
    def mpd_path(self) -> Path:
        return Path(self.out_dir) / self.mpd

    @property
    def hls_master_path(self) -> Path:
        return Path(self.out_dir) / self.hls_master

    def path(self, relative: str) -> Path:
        return Path(self.out_dir) / relative


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
    streams: list[PlannedStream] = []
    for v in videos:
        name = v.stream_name
        _check_name(name, "video rendition")
        what = f"video '{name}' {v.width}x{v.height}"
        source = _check_source(v.path, what)
        tc = track_class_for_height(v.height)
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
        streams.append(
            PlannedStream(
                name, "video", source, ",".join(parts), tc if encrypted else None,
                f"{name}.m3u8", f"{name}_iframe.m3u8", width=v.width, height=v.height,
            )
        )  # fmt: skip
    for a in audios:
        _check_language(a.language, "audio track")
        name = a.stream_name
        _check_name(name, "audio track")
        display = a.name or a.language
        if _DESCRIPTOR_UNSAFE.search(display) or '"' in display:
            raise PackagerInputError(f"audio track {name}: name {display!r} has ',', '=' or '\"'")
        source = _check_source(a.path, f"audio '{name}'")
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
        streams.append(
            PlannedStream(
                name, "audio", source, ",".join(parts),
                TrackClass.AUDIO if encrypted else None, f"{name}.m3u8", None, language=a.language,
            )
        )  # fmt: skip
    for s in subtitles:
        _check_language(s.language, "subtitle track")
        name = s.stream_name
        _check_name(name, "subtitle track")
        display = s.name or s.language
        if _DESCRIPTOR_UNSAFE.search(display) or '"' in display:
            raise PackagerInputError(
                f"subtitle track {name}: name {display!r} has ',', '=' or '\"'"
            )
        source = _check_source(s.path, f"text '{name}'")
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
        streams.append(
            PlannedStream(
                name, "text", source, ",".join(parts), None, f"{name}.m3u8", None,
                language=s.language,
            )
        )  # fmt: skip
    names = [s.name for s in streams]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise PackagerInputError(f"two streams would share the output name(s) {dupes}")
    return streams


def packager_args(
    streams: Sequence[PlannedStream],
    *,
    segment_duration: int = 6,
    key_flagfile: Path | None = None,
) -> list[str]:
    """The packager argument list (without the binary). Run it with cwd = the output folder."""
    if segment_duration <= 0:
        raise PackagerInputError(f"segment_duration must be positive, got {segment_duration}")
    args = [s.descriptor for s in streams]
    args += [
        "--segment_duration",
        str(segment_duration),
        "--generate_static_live_mpd",
        "--mpd_output",
        MPD_NAME,
        "--hls_master_playlist_output",
        HLS_MASTER_NAME,
        "--hls_playlist_type",
        "VOD",
    ]
    if key_flagfile is not None:
        args += [
            f"--flagfile={key_flagfile}",
            "--protection_scheme",
            "cbcs",
            "--clear_lead",
            "0",
            "--protection_systems",
            drm.PACKAGER_PROTECTION_SYSTEMS,
            "--hls_key_uri",
            drm.HLS_KEY_URI_PLACEHOLDER,
        ]
    return args


def write_key_flagfile(
    keys: Mapping[TrackClass, ContentKey],
    directory: Path,
    *,
    purpose: Literal["encryption", "decryption"] = "encryption",
) -> Path:
    """A 0600 flag file holding the raw keys, so they never appear on a command line.

    ``decryption`` is verification's use: the packager decrypts a sample segment.
    """
    spec = ",".join(
        f"label={tc.value}:key_id={k.kid.hex()}:key={k.key.hex()}"
        for tc, k in sorted(keys.items(), key=lambda item: item[0].value)
    )
    fd, name = tempfile.mkstemp(prefix="keys.", suffix=".flags", dir=directory)
    with os.fdopen(fd, "w") as fh:
        fh.write(f"--enable_raw_key_{purpose}\n--keys={spec}\n")
    return Path(name)


# glog line: E1124 09:32:03.848467    6890 packager_main.cc:629] message
_GLOG = re.compile(r"^([IWEF])\d{4} [\d:.]+\s+(\d+) [^\]]+\] (.*)$")
_DEMUX_RUN = re.compile(r"Demuxer::Run\(\) on file '(.*)'")
# The packager echoes a flag it cannot parse ("Failed to parse --keys label=..:key=<hex>"):
# raw keys must not reach an exception, so anything after --keys and every key= is redacted.
_KEY_TEXT = re.compile(r"(--keys[= ]|\bkey=)\S+")


def _redact_keys(text: str) -> str:
    return _KEY_TEXT.sub(r"\1<redacted>", text)


def _error_for(stderr: str, streams: Sequence[PlannedStream], returncode: int) -> PackagerError:
    """Name the failing stream: by a file path in an error line, else by the failing thread."""
    thread_file: dict[str, str] = {}
    errors: list[tuple[str, str]] = []
    for line in stderr.splitlines():
        m = _GLOG.match(line.strip())
        if not m:
            continue
        level, thread, msg = m.groups()
        run = _DEMUX_RUN.search(msg)
        if run:
            thread_file[thread] = run.group(1)
        elif level in "EF":
            errors.append((thread, msg))
    message = "; ".join(msg for _, msg in errors) or stderr.strip()[-500:] or f"exit {returncode}"
    message = _redact_keys(message)
    culprit: PlannedStream | None = None
    for thread, msg in errors:
        for s in streams:
            if s.source in msg or thread_file.get(thread) == s.source:
                culprit = s
                break
        if culprit:
            break
    stream = culprit.describe() if culprit else "(all streams)"
    return PackagerError(stream, message, returncode=returncode)


def run_packager(
    packager: str,
    args: Sequence[str],
    *,
    cwd: Path,
    streams: Sequence[PlannedStream],
    timeout: float | None = None,
    step: str = "package",
) -> None:
    """Errors name the tool, the step and the stream, never the argument list.

    Inside an activity (``stall_limits``) a run whose log and output under ``cwd`` stop
    growing for the stall limit is killed and raises ``PackagerStalled`` (retryable).
    """
    with tempfile.TemporaryFile() as err_file:
        try:
            proc = subprocess.Popen(
                [packager, *args],
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err_file,
            )
        except FileNotFoundError:
            raise PackagerError("(all streams)", f"packager binary not found: {packager}") from None

        def written() -> tuple[int, int]:
            # The packager logs little, but writes segments as it goes.
            return os.fstat(err_file.fileno()).st_size, _tree_bytes(cwd)

        with StallWatchdog(proc, current_stall_limits(), probe=written) as dog:
            try:
                returncode = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                # `from None`: TimeoutExpired's text is the whole command line.
                raise PackagerError(
                    "(all streams)", f"{step} timed out after {timeout:g} s"
                ) from None
        err_file.seek(0)
        stderr = err_file.read().decode("utf-8", errors="replace")
    if dog.stalled:
        stall_s = dog.limits.stall_s if dog.limits else 0.0
        raise PackagerStalled(
            "(all streams)", f"{step} made no progress for {stall_s:g} s and was killed"
        )
    if returncode != 0:
        raise _error_for(stderr, streams, returncode)


class PackagerStalled(PackagerError, SubprocessStalled):
    """The packager wrote nothing for the stall limit and was killed (a hang, not bad input)."""


def _tree_bytes(root: Path) -> int:
    total = 0
    stack = [root]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(Path(entry.path))
                elif entry.is_file(follow_symlinks=False):
                    with contextlib.suppress(FileNotFoundError):  # renamed while we looked
                        total += entry.stat(follow_symlinks=False).st_size
    return total


def _set_key_uris(
    out: Path, streams: Sequence[PlannedStream], kids: Mapping[TrackClass, str], template: str
) -> None:
    for s in streams:
        if s.track_class is None:
            continue
        uri = template.format(kid=kids[s.track_class])
        for playlist in filter(None, (s.playlist, s.iframe_playlist)):
            p = out / playlist
            text = p.read_text()
            p.write_text(text.replace(f'URI="{drm.HLS_KEY_URI_PLACEHOLDER}"', f'URI="{uri}"'))


def _copy_thumbnails(vtt: Path, out: Path) -> str:
    """Copy a thumbnails WebVTT and the sprite images its cues name into ``thumbs/``."""
    src = Path(vtt)
    if not src.is_file():
        raise PackagerInputError(f"thumbnails VTT {src} does not exist")
    dest = out / THUMBS_DIR
    dest.mkdir(exist_ok=True)
    shutil.copyfile(src, dest / src.name)
    for line in src.read_text().splitlines():
        ref = line.strip().split("#", 1)[0]
        if not ref or "-->" in ref or ref.startswith(("WEBVTT", "NOTE")) or "://" in ref:
            continue
        image = (src.parent / ref).resolve()
        if image.is_file() and src.parent.resolve() in image.parents:
            (dest / ref).parent.mkdir(parents=True, exist_ok=True)
            if not (dest / ref).exists():
                shutil.copyfile(image, dest / ref)
    return f"{THUMBS_DIR}/{src.name}"


_MPD_NS = "{urn:mpeg:dash:schema:mpd:2011}"


def _mpd_representations(mpd: Path) -> dict[str, tuple[int, str | None]]:
    """Stream folder/prefix -> (bandwidth, codecs), matched by SegmentTemplate@media."""
    root = ET.parse(mpd).getroot()
    found: dict[str, tuple[int, str | None]] = {}
    for rep in root.iter(f"{_MPD_NS}Representation"):
        tmpl = rep.find(f"{_MPD_NS}SegmentTemplate")
        if tmpl is None:
            continue
        prefix = tmpl.get("media", "").split("/", 1)[0]
        found[prefix] = (int(rep.get("bandwidth", "0")), rep.get("codecs"))
    return found


def collect_result(
    out: Path,
    streams: Sequence[PlannedStream],
    *,
    segment_duration: int,
    kids: Mapping[TrackClass, str],
    thumbnails_vtt: str | None,
) -> PackageResult:
    mpd = out / MPD_NAME
    master = out / HLS_MASTER_NAME
    for must in (mpd, master):
        if not must.is_file():
            raise PackagerError("(all streams)", f"packager exited 0 but wrote no {must.name}")
    bandwidths = _mpd_representations(mpd)
    reps: list[Representation] = []
    for s in streams:
        bandwidth, codecs = bandwidths.get(s.name, (0, None))
        segments = tuple(
            str(seg.uri) for seg in m3u8.loads((out / s.playlist).read_text()).segments
        )
        reps.append(
            Representation(
                name=s.name,
                kind=s.kind,
                width=s.width,
                height=s.height,
                bandwidth=bandwidth,
                track_class=s.track_class,
                language=s.language,
                codecs=codecs,
                playlist=s.playlist,
                iframe_playlist=s.iframe_playlist,
                init_segment=f"{s.name}/init.mp4" if s.kind != "text" else None,
                segments=segments,
                source=s.source,
            )
        )
    systems: set[str] = set()
    if kids:
        systems = drm.mpd_drm_systems(mpd)
        first_media = next(s for s in streams if s.track_class is not None)
        if drm.FAIRPLAY.hls_keyformat in drm.hls_key_formats(
            (out / first_media.playlist).read_text()
        ):
            systems.add(drm.FAIRPLAY.name)
    files = tuple(sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()))
    return PackageResult(
        out_dir=str(out),
        mpd=MPD_NAME,
        hls_master=HLS_MASTER_NAME,
        files=files,
        drm_systems=tuple(sorted(systems)),
        kids={tc.value: kid for tc, kid in sorted(kids.items(), key=lambda i: i[0].value)},
        representations=tuple(reps),
        segment_duration=segment_duration,
        thumbnails_vtt=thumbnails_vtt,
    )


def package(
    videos: Sequence[VideoRendition],
    audios: Sequence[AudioTrack],
    subtitles: Sequence[SubtitleTrack] = (),
    *,
    out_dir: Path,
    packager: str,
    segment_duration: int = 6,
    keys: Mapping[TrackClass, ContentKey] | None = None,
    key_uri_template: str = "skd://{kid}",
    thumbnails_vtt: Path | None = None,
    timeout: float | None = 600,
) -> PackageResult:
    """Package renditions into ``out_dir`` (created; must be empty). ``keys=None``: clear."""
    out = Path(out_dir).resolve()
    if out.exists() and any(out.iterdir()):
        raise PackagerInputError(f"output folder {out} is not empty")
    streams = plan_streams(videos, audios, subtitles, encrypted=keys is not None)
    kids: dict[TrackClass, str] = {}
    if keys is not None:
        needed = {s.track_class for s in streams if s.track_class is not None}
        missing = sorted(tc.value for tc in needed if tc not in keys)
        if missing:
            raise PackagerInputError(f"no content key for track class(es) {missing}")
        for tc in needed:
            if keys[tc].track_class != tc:
                raise PackagerInputError(
                    f"key given for {tc.value} is labelled {keys[tc].track_class.value}"
                )
        kids = {tc: keys[tc].kid.hex() for tc in needed}
        if "{kid}" not in key_uri_template:
            raise PackagerInputError("key_uri_template must contain {kid}")
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="reelflow-pkg-") as private:
        flagfile = (
            write_key_flagfile({tc: keys[tc] for tc in kids}, Path(private)) if keys else None
        )
        args = packager_args(streams, segment_duration=segment_duration, key_flagfile=flagfile)
        run_packager(packager, args, cwd=out, streams=streams, timeout=timeout)
    if kids:
        _set_key_uris(out, streams, kids, key_uri_template)
    thumbs = _copy_thumbnails(thumbnails_vtt, out) if thumbnails_vtt is not None else None
    return collect_result(
        out, streams, segment_duration=segment_duration, kids=kids, thumbnails_vtt=thumbs
    )
