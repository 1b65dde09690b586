"""The frame checks of verification (``decrypt:<CLASS>`` / ``frames:<stream>``): a sample
segment of one stream per class, decrypted by Shaka Packager with its key (in a 0600 flag
file), decodes to frames identical to the clear rendition's at the same place."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import m3u8

from reelflow.domain.content_keys import ContentKey
from reelflow.domain.track_classes import TrackClass
from reelflow.packaging.errors import PackagerError
from reelflow.packaging.packager import PackageResult, Representation
from reelflow.packaging.packager_run import key_flags, run_packager
from reelflow.packaging.verify_report import (
    DEFAULT_TIMEOUT_S,
    Check,
    ToolFailed,
    VerifyReport,
    run_tool,
)

SEEK_EARLY_S = 0.004


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
    proc = run_tool(cmd, step=step, timeout_s=timeout_s)
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
    stream = f"in={joined},stream={kind},output={clear},drm_label={track_class.value}"
    try:
        with key_flags({track_class: key}, purpose="decryption") as flags:
            run_packager(
                packager, [stream, flags.arg], cwd=work, streams=(), timeout=timeout_s,
                step=f"decrypt {kind} {joined.name}", pass_fds=flags.pass_fds,
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


def check_frames(
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


def first_of_each_class(result: PackageResult) -> dict[str, Representation]:
    """One audio/video representation per track class (per name when clear): the one whose
    frames are checked."""
    first_of_class: dict[str, Representation] = {}
    for rep in result.representations:
        if rep.kind != "text":
            label = rep.track_class.value if rep.track_class else rep.name
            first_of_class.setdefault(label, rep)
    return first_of_class


def key_for(
    report: VerifyReport,
    name: str,
    label: str,
    rep: Representation,
    result: PackageResult,
    keys: Mapping[TrackClass, ContentKey] | None,
) -> ContentKey | Literal[False] | None:
    """The key to decrypt ``rep`` with (None when clear), or False after reporting that the
    right key was not given."""
    if rep.track_class is None:
        return None
    key = (keys or {}).get(rep.track_class)
    if key is None:
        report.add(name, False, f"no key given for {label}")
        return False
    if key.kid.hex() != result.kids.get(label):
        report.add(
            name,
            False,
            f"key for {label} has KID {key.kid.hex()}, package uses {result.kids.get(label)}",
        )
        return False
    return key
