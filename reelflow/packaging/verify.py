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
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import m3u8

from reelflow.domain.content_keys import ContentKey
from reelflow.domain.track_classes import TrackClass
from reelflow.media.stderr_tail import stderr_tail
from reelflow.packaging import fmp4
from reelflow.packaging.errors import PackagerError
from reelflow.packaging.packager import PackageResult, Representation
from reelflow.packaging.packager_run import run_packager, write_key_flagfile

DURATION_SLACK_S = 0.5
DEFAULT_TIMEOUT_S = 120.0
SEEK_EARLY_S = 0.004
# Check details are one-line report entries: keep them short.
_STDERR_TAIL_CHARS = 300


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    detail: str = ""


@dataclass
class VerifyReport:
    checks: list[Check] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(c.passed for c in self.checks)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]

    def check(self, name: str) -> Check:
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(name)

    def add(self, name: str, passed: bool, detail: str = "") -> None:
        self.checks.append(Check(name, passed, detail))


class ToolFailed(RuntimeError):
    """A verification tool failed or timed out; the message names the tool and the step."""


def _run(cmd: Sequence[str], *, step: str, timeout_s: float) -> subprocess.CompletedProcess[str]:
    tool = Path(cmd[0]).name
    try:
        proc = subprocess.run(
            list(cmd), capture_output=True, text=True, timeout=timeout_s, check=False
        )
    except FileNotFoundError:
        raise ToolFailed(f"{tool} ({step}): binary not found") from None
    except subprocess.TimeoutExpired:
        # `from None`: TimeoutExpired's text is the whole command line.
        raise ToolFailed(f"{tool} ({step}) timed out after {timeout_s:g} s") from None
    if proc.returncode != 0:
        tail = stderr_tail(proc.stderr, chars=_STDERR_TAIL_CHARS)
        raise ToolFailed(f"{tool} ({step}) exit {proc.returncode}: {tail}")
    return proc


def _probe_manifest(
    report: VerifyReport,
    name: str,
    cmd: list[str],
    videos: Sequence[Representation],
    *,
    timeout_s: float,
) -> None:
    try:
        proc = _run(cmd, step=name, timeout_s=timeout_s)
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


def _frame_hashes(
    ffmpeg: str,
    source: Path,
    kind: str,
    *,
    frames: int | None,
    step: str,
    timeout_s: float,
    seek_s: float = 0.0,
) -> list[str]:
    cmd = [ffmpeg, "-nostdin", "-v", "error"]
    if seek_s > 0:
        # Accurate input seek: decoding starts at the keyframe before and drops every frame
        # before seek_s; a few ms early keeps the segment's first frame despite rounding.
        cmd += ["-ss", f"{max(0.0, seek_s - SEEK_EARLY_S):.6f}"]
    cmd += ["-i", str(source), "-map", "0:v:0" if kind == "video" else "0:a:0"]
    if frames is not None:
        cmd += ["-frames:v" if kind == "video" else "-frames:a", str(frames)]
    cmd += ["-f", "framemd5", "-"]
    proc = _run(cmd, step=step, timeout_s=timeout_s)
    return [
        ln.rsplit(",", 1)[-1].strip()
        for ln in proc.stdout.splitlines()
        if ln and not ln.startswith("#")
    ]


def _decrypt_segment(
    packager: str,
    joined: Path,
    kind: str,
    track_class: TrackClass,
    key: ContentKey,
    *,
    timeout_s: float,
) -> Path:
    """Shaka Packager decrypts ``joined`` (init + one segment) into a clear MP4 beside it."""
    work = joined.parent
    clear = work / "clear.mp4"
    flagfile = write_key_flagfile({track_class: key}, work, purpose="decryption")
    stream = f"in={joined},stream={kind},output={clear},drm_label={track_class.value}"
    try:
        run_packager(
            packager, [stream, f"--flagfile={flagfile}"], cwd=work, streams=(),
            timeout=timeout_s, step=f"decrypt {kind} {joined.name}",
        )  # fmt: skip
    except PackagerError as exc:
        raise ToolFailed(f"packager: {exc.packager_message}") from None
    return clear


def segment_frames(
    init: Path,
    segment: Path,
    clear: Path,
    *,
    start_s: float,
    kind: str,
    track_class: TrackClass | None,
    key: ContentKey | None,
    ffmpeg: str,
    packager: str,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> tuple[list[str], list[str]]:
    """Frame hashes of one packaged segment (decrypted with ``key`` when given) and of as
    many frames of the ``clear`` rendition from ``start_s`` (the segment's presentation
    start). Raises ToolFailed, whose text never holds the key."""
    # Private (0700) folder: it holds the key flag file while the packager runs.
    with tempfile.TemporaryDirectory(prefix="reelflow-verify-") as private:
        joined = Path(private) / "segment.mp4"
        joined.write_bytes(init.read_bytes() + segment.read_bytes())
        source = joined
        if key is not None:
            assert track_class is not None
            source = _decrypt_segment(packager, joined, kind, track_class, key, timeout_s=timeout_s)
        got = _frame_hashes(
            ffmpeg, source, kind, frames=None, step=f"decode {segment.name}", timeout_s=timeout_s
        )
    want = (
        _frame_hashes(
            ffmpeg, clear, kind, frames=len(got), step=f"decode {clear.name}",
            timeout_s=timeout_s, seek_s=start_s,
        )
        if got
        else []
    )  # fmt: skip
    return got, want


def _compare(got: list[str], want: list[str], kind: str, segment: str, clear: str) -> Check:
    # AAC is MDCT-coded with overlap: the last frame decoded from a lone segment lacks the
    # next frame's contribution, so for audio only the frames before it must be identical.
    if kind != "video" and len(got) > 1 and got[:-1] == want[:-1]:
        return Check(
            "",
            True,
            f"{segment}: {len(got) - 1}/{len(got)} frames identical to {clear} "
            "(last audio frame overlaps the next segment)",
        )
    if not got:
        return Check("", False, f"{segment} decoded to no frames")
    if got != want:
        same = sum(a == b for a, b in zip(got, want, strict=False))
        return Check("", False, f"{segment}: {same}/{len(got)} frames match {clear}")
    return Check("", True, f"{segment}: {len(got)} frames identical to {clear}")


def _check_frames(
    report: VerifyReport,
    name: str,
    result: PackageResult,
    rep: Representation,
    *,
    ffmpeg: str,
    packager: str,
    key: ContentKey | None,
    clear: Path,
    timeout_s: float,
) -> None:
    """The first segment, and for video the last one too: a package whose tail is broken
    (a long title's late chunk, a truncated upload) must not pass on its head alone."""
    if rep.init_segment is None or not rep.segments:
        report.add(name, False, f"{rep.name} has no segments")
        return
    picks = [0]
    if rep.kind == "video" and len(rep.segments) > 1:
        picks.append(len(rep.segments) - 1)
    extinf = [
        float(seg.duration) for seg in m3u8.loads(result.path(rep.playlist).read_text()).segments
    ]
    details: list[str] = []
    for index in picks:
        segment = rep.segments[index]
        try:
            got, want = segment_frames(
                result.path(rep.init_segment),
                result.path(segment),
                clear,
                start_s=sum(extinf[:index]),
                kind=rep.kind,
                track_class=rep.track_class,
                key=key,
                ffmpeg=ffmpeg,
                packager=packager,
                timeout_s=timeout_s,
            )
        except ToolFailed as exc:
            report.add(name, False, f"{segment}: {exc}")
            return
        check = _compare(got, want, rep.kind, segment, clear.name)
        if not check.passed:
            report.add(name, False, check.detail)
            return
        details.append(check.detail)
    report.add(name, True, "; ".join(details))


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
    first_of_class: dict[str, Representation] = {}
    for rep in result.representations:
        if rep.kind != "text":
            label = rep.track_class.value if rep.track_class else rep.name
            first_of_class.setdefault(label, rep)
    for label, rep in first_of_class.items():
        encrypted = rep.track_class is not None
        name = f"decrypt:{label}" if encrypted else f"frames:{rep.name}"
        key: ContentKey | None = None
        if encrypted:
            assert rep.track_class is not None
            key = (keys or {}).get(rep.track_class)
            if key is None:
                report.add(name, False, f"no key given for {label}")
                continue
            if key.kid.hex() != result.kids.get(label):
                report.add(
                    name,
                    False,
                    f"key for {label} has KID {key.kid.hex()}, "
                    f"package uses {result.kids.get(label)}",
                )
                continue
        if ffmpeg_decode is None:
            report.add(name, False, "no static ffmpeg 9 to decode with (imageio-ffmpeg missing)")
            continue
        clear = Path(clear_for.get(rep.name, rep.source))
        _check_frames(
            report, name, result, rep, ffmpeg=ffmpeg_decode, packager=packager, key=key,
            clear=clear, timeout_s=timeout_s,
        )  # fmt: skip
    return report
