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
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import m3u8

from reelflow.domain.content_keys import ContentKey
from reelflow.domain.track_classes import TrackClass
from reelflow.packaging import drm
from reelflow.packaging.errors import PackagerError, PackagerInputError
from reelflow.packaging.packager_run import KeyFlags, key_flags, run_packager
from reelflow.packaging.streams import (
    AudioTrack,
    PlannedStream,
    StreamKind,
    SubtitleTrack,
    VideoRendition,
    plan_streams,
)

MPD_NAME = "manifest.mpd"
HLS_MASTER_NAME = "master.m3u8"
THUMBS_DIR = "thumbs"


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


def packager_args(
    streams: Sequence[PlannedStream],
    *,
    segment_duration: int = 6,
    key_flags: KeyFlags | None = None,
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
    if key_flags is not None:
        args += [
            key_flags.arg,
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


def _representation(
    out: Path, s: PlannedStream, bandwidth: int, codecs: str | None
) -> Representation:
    segments = tuple(str(seg.uri) for seg in m3u8.loads((out / s.playlist).read_text()).segments)
    return Representation(
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


def _drm_systems(out: Path, streams: Sequence[PlannedStream]) -> set[str]:
    """The DRM systems the MPD signals, and FairPlay when the HLS playlists carry its key."""
    systems = drm.mpd_drm_systems(out / MPD_NAME)
    first_media = next(s for s in streams if s.track_class is not None)
    if drm.FAIRPLAY.hls_keyformat in drm.hls_key_formats((out / first_media.playlist).read_text()):
        systems.add(drm.FAIRPLAY.name)
    return systems


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
    reps = [_representation(out, s, *bandwidths.get(s.name, (0, None))) for s in streams]
    systems = _drm_systems(out, streams) if kids else set()
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


def _kids_for(
    streams: Sequence[PlannedStream], keys: Mapping[TrackClass, ContentKey], key_uri_template: str
) -> dict[TrackClass, str]:
    """The KID of each track class the streams need; every class keyed, each key labelled."""
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
    return kids


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
    kids = _kids_for(streams, keys, key_uri_template) if keys is not None else {}
    out.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        flags = stack.enter_context(key_flags({tc: keys[tc] for tc in kids})) if keys else None
        args = packager_args(streams, segment_duration=segment_duration, key_flags=flags)
        run_packager(
            packager, args, cwd=out, streams=streams, timeout=timeout,
            pass_fds=flags.pass_fds if flags else (),
        )  # fmt: skip
    if kids:
        _set_key_uris(out, streams, kids, key_uri_template)
    thumbs = _copy_thumbnails(thumbnails_vtt, out) if thumbnails_vtt is not None else None
    return collect_result(
        out, streams, segment_duration=segment_duration, kids=kids, thumbnails_vtt=thumbs
    )
