"""Post-package verification: is this package safe to publish?

Checks (each named in the report so a failure says exactly what is wrong):

- ``ffprobe:hls`` / ``ffprobe:dash``: ffprobe opens the HLS master and the MPD (by absolute
  path: ffprobe mis-resolves relative DASH paths) and sees every video rendition.
- ``keyframes:<stream>``: every video segment starts with a sync sample (read from the clear
  ``moof``, so it works on encrypted segments).
- ``durations:<stream>``: every segment (fMP4 sample durations and playlist EXTINF) lasts at
  most the target segment duration + 0.5 s.
- ``encryption:<stream>``: the init segment is cbcs under the KID of its track class (or
  clear, for a clear package).
- ``decrypt:<CLASS>`` (encrypted) / ``frames:<stream>`` (clear): the first segment of one
  stream per class (and, for video, the last one too), decrypted with its key, decodes to
  frames identical to the clear rendition's frames at the same place.

Content keys never reach a command line, an exception or a report detail: Shaka Packager
decrypts the sample segment (``--enable_raw_key_decryption``, keys in a 0600 flag file in a
private temp folder removed afterwards; ``/proc/<pid>/cmdline`` is world-readable and the
static ffmpeg 9 has no key-file option), and ffmpeg only decodes the clear result: the static
ffmpeg 9, which treats the AAC priming edit list of an fMP4 and of the clear MP4 alike
(Debian's 5.1 does not, so its audio frames would be off by one). Tool
failures and timeouts are reported by tool and step, never by argument list.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import m3u8

from reelflow.domain.content_keys import ContentKey
from reelflow.domain.track_classes import TrackClass
from reelflow.packaging import fmp4
from reelflow.packaging.packager import PackageResult, Representation
from reelflow.packaging.verify_frames import check_frames, first_of_each_class, key_for
from reelflow.packaging.verify_report import DEFAULT_TIMEOUT_S, ToolFailed, VerifyReport, run_tool

DURATION_SLACK_S = 0.5


def _probe_manifest(
    report: VerifyReport,
    name: str,
    cmd: list[str],
    videos: Sequence[Representation],
    *,
    timeout_s: float,
) -> None:
    try:
        proc = run_tool(cmd, step=name, timeout_s=timeout_s)
    except ToolFailed as exc:
        report.add(name, False, str(exc))
        return
    streams = json.loads(proc.stdout or "{}").get("streams", [])
    seen = {(s.get("width"), s.get("height")) for s in streams if s.get("codec_type") == "video"}
    wanted = {(v.width, v.height) for v in videos}
    missing = wanted - seen
    if missing:
        report.add(name, False, f"video renditions not seen by ffprobe: {sorted(missing)}")
    else:
        report.add(name, True, f"{len(streams)} streams")


def _check_segments(
    report: VerifyReport, result: PackageResult, rep: Representation, expected_kid: str | None
) -> None:
    limit = result.segment_duration + DURATION_SLACK_S
    extinf = [
        float(seg.duration) for seg in m3u8.loads(result.path(rep.playlist).read_text()).segments
    ]
    too_long = [f"#{i + 1}={d:.3f}s" for i, d in enumerate(extinf) if d > limit]
    if rep.init_segment is None:  # WebVTT: the playlist is all there is to check
        report.add(f"durations:{rep.name}", not too_long and bool(extinf), ", ".join(too_long))
        return
    try:
        init = fmp4.read_init(result.path(rep.init_segment).read_bytes())
        infos = [fmp4.read_segment(result.path(s).read_bytes(), init) for s in rep.segments]
    except (OSError, fmp4.Fmp4Error) as exc:
        report.add(f"segments:{rep.name}", False, str(exc))
        return
    for i, info in enumerate(infos):
        seconds = info.duration / init.timescale
        if seconds > limit:
            too_long.append(f"{rep.segments[i]}={seconds:.3f}s")
    detail = ", ".join(too_long) if too_long else f"{len(infos)} segments <= {limit}s"
    report.add(f"durations:{rep.name}", not too_long and bool(infos), detail)
    if rep.kind == "video":
        bad = [rep.segments[i] for i, info in enumerate(infos) if not info.starts_with_sync_sample]
        report.add(
            f"keyframes:{rep.name}",
            not bad and bool(infos),
            f"segments not starting with a keyframe: {bad}" if bad else "",
        )
    if expected_kid is None:
        ok = not init.encrypted
        report.add(
            f"encryption:{rep.name}", ok, "" if ok else f"unexpectedly encrypted ({init.scheme})"
        )
    else:
        kid = init.default_kid.hex() if init.default_kid else None
        ok = init.scheme == "cbcs" and kid == expected_kid
        detail = (
            "" if ok else f"scheme {init.scheme}, KID {kid}, expected cbcs under {expected_kid}"
        )
        report.add(f"encryption:{rep.name}", ok, detail)


def verify_package(
    result: PackageResult,
    *,
    ffprobe: str,
    ffmpeg_decode: str | None,
    packager: str,
    keys: Mapping[TrackClass, ContentKey] | None,
    clear_renditions: Mapping[str, Path] | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> VerifyReport:
    """Run every check; never raises for a bad package: the report says what failed.

    ``clear_renditions`` maps a representation name to its clear file; by default the
    packager input recorded in the result is used.
    """
    report = VerifyReport()
    videos = [r for r in result.representations if r.kind == "video"]
    _probe_manifest(
        report,
        "ffprobe:hls",
        [ffprobe, "-v", "error", "-show_entries", "stream=codec_type,width,height", "-of", "json",
         str(result.hls_master_path.resolve())],
        videos,
        timeout_s=timeout_s,
    )  # fmt: skip
    _probe_manifest(
        report,
        "ffprobe:dash",
        [ffprobe, "-v", "error", "-allowed_extensions", "ALL", "-show_entries",
         "stream=codec_type,width,height", "-of", "json", str(result.mpd_path.resolve())],
        videos,
        timeout_s=timeout_s,
    )  # fmt: skip
    for rep in result.representations:
        kid = result.kids.get(rep.track_class.value) if rep.track_class else None
        _check_segments(report, result, rep, kid)

    clear_for = dict(clear_renditions or {})
    for label, rep in first_of_each_class(result).items():
        name = f"decrypt:{label}" if rep.track_class is not None else f"frames:{rep.name}"
        key = key_for(report, name, label, rep, result, keys)
        if key is False:
            continue
        if ffmpeg_decode is None:
            report.add(name, False, "no static ffmpeg 9 to decode with (imageio-ffmpeg missing)")
            continue
        clear = Path(clear_for.get(rep.name, rep.source))
        check_frames(
            report, name, result, rep, ffmpeg=ffmpeg_decode, packager=packager, key=key,
            clear=clear, timeout_s=timeout_s,
        )  # fmt: skip
    return report
