"""Verification decrypts a video stream's last segment as well as its first: a package
whose tail is wrong (a long title's late chunk, a cut-off upload) must not pass on its
head alone."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

from reelflow.domain.content_keys import ContentKey
from reelflow.domain.track_classes import TrackClass
from reelflow.packaging.packager import PackageResult
from reelflow.packaging.verify import verify_package
from reelflow.packaging.verify_report import VerifyReport


def _verify(
    pkg: PackageResult, keys: dict[TrackClass, ContentKey] | None, tools: tuple[str, str, str]
) -> VerifyReport:
    ffprobe, ffmpeg9, packager = tools
    return verify_package(pkg, ffprobe=ffprobe, ffmpeg_decode=ffmpeg9, packager=packager, keys=keys)


def test_first_and_last_video_segments_are_compared(
    encrypted_pkg: PackageResult,
    content_keys: dict[TrackClass, ContentKey],
    ffprobe_bin: str,
    ffmpeg9: str,
    packager_bin: str,
) -> None:
    report = _verify(encrypted_pkg, content_keys, (ffprobe_bin, ffmpeg9, packager_bin))
    assert report.passed, report.failures
    hd = next(r for r in encrypted_pkg.representations if r.track_class == TrackClass.HD)
    assert len(hd.segments) >= 2
    detail = report.check("decrypt:HD").detail
    assert hd.segments[0] in detail and hd.segments[-1] in detail, detail
    # The 8 s clip ends with a 2 s segment: 48 frames at 24 fps, matched at 6 s in.
    assert "48 frames identical" in detail, detail


def test_a_wrong_last_segment_fails_the_class(
    encrypted_pkg: PackageResult,
    content_keys: dict[TrackClass, ContentKey],
    ffprobe_bin: str,
    ffmpeg9: str,
    packager_bin: str,
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    shutil.copytree(encrypted_pkg.out_dir, out)
    pkg = replace(encrypted_pkg, out_dir=str(out))
    hd = next(r for r in pkg.representations if r.track_class == TrackClass.HD)
    # A valid, decryptable segment in the wrong place: only a frame comparison sees it.
    shutil.copyfile(pkg.path(hd.segments[0]), pkg.path(hd.segments[-1]))
    report = _verify(pkg, content_keys, (ffprobe_bin, ffmpeg9, packager_bin))
    failed = {c.name: c.detail for c in report.failures}
    assert "decrypt:HD" in failed, report.checks
    assert hd.segments[-1] in failed["decrypt:HD"], failed
    assert "frames match" in failed["decrypt:HD"], failed
