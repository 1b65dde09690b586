from __future__ import annotations

import shutil
import struct
from dataclasses import replace
from pathlib import Path

import pytest

from reelflow.domain.content_keys import ContentKey
from reelflow.domain.track_classes import TrackClass
from reelflow.packaging import fmp4
from reelflow.packaging.packager import PackageResult
from reelflow.packaging.verify import verify_package


def test_encrypted_package_passes(
    encrypted_pkg: PackageResult,
    content_keys: dict[TrackClass, ContentKey],
    ffprobe_bin: str,
    ffmpeg9: str,
    packager_bin: str,
) -> None:
    report = verify_package(
        encrypted_pkg,
        ffprobe=ffprobe_bin,
        ffmpeg_decode=ffmpeg9,
        packager=packager_bin,
        keys=content_keys,
    )
    assert report.passed, report.failures
    names = {c.name for c in report.checks}
    assert {"ffprobe:hls", "ffprobe:dash", "decrypt:SD", "decrypt:HD", "decrypt:AUDIO"} <= names
    assert {"keyframes:video_360p_400k", "keyframes:video_720p_900k", "durations:text_en"} <= names
    assert "identical" in report.check("decrypt:HD").detail


def test_clear_package_passes(
    clear_pkg: PackageResult, ffprobe_bin: str, ffmpeg9: str, packager_bin: str
) -> None:
    report = verify_package(
        clear_pkg, ffprobe=ffprobe_bin, ffmpeg_decode=ffmpeg9, packager=packager_bin, keys=None
    )
    assert report.passed, report.failures
    assert report.check("frames:video_720p_900k").passed
    assert report.check("encryption:audio_en_2ch").passed


@pytest.mark.parametrize("wrong_class", [TrackClass.HD, TrackClass.SD, TrackClass.AUDIO])
def test_wrong_key_fails_decrypt_check(
    wrong_class: TrackClass,
    encrypted_pkg: PackageResult,
    content_keys: dict[TrackClass, ContentKey],
    ffprobe_bin: str,
    ffmpeg9: str,
    packager_bin: str,
) -> None:
    right = content_keys[wrong_class]
    wrong: dict[TrackClass, ContentKey] = {
        **content_keys,
        wrong_class: ContentKey(right.kid, bytes(16), wrong_class),
    }
    report = verify_package(
        encrypted_pkg, ffprobe=ffprobe_bin, ffmpeg_decode=ffmpeg9, packager=packager_bin, keys=wrong
    )
    assert not report.passed
    assert [c.name for c in report.failures] == [f"decrypt:{wrong_class.value}"]
    # The details end up in the activity's error message: they must not leak the key.
    assert all(bytes(16).hex() not in c.detail for c in report.checks)


def test_missing_key_fails(
    encrypted_pkg: PackageResult,
    content_keys: dict[TrackClass, ContentKey],
    ffprobe_bin: str,
    ffmpeg9: str,
    packager_bin: str,
) -> None:
    keys: dict[TrackClass, ContentKey] = {
        tc: k for tc, k in content_keys.items() if tc is not TrackClass.AUDIO
    }
    report = verify_package(
        encrypted_pkg, ffprobe=ffprobe_bin, ffmpeg_decode=ffmpeg9, packager=packager_bin, keys=keys
    )
    assert [c.name for c in report.failures] == ["decrypt:AUDIO"]


def _copy(pkg: PackageResult, dest: Path) -> PackageResult:
    shutil.copytree(pkg.out_dir, dest)
    return replace(pkg, out_dir=str(dest))


def test_segment_not_starting_on_keyframe_fails(
    clear_pkg: PackageResult, ffprobe_bin: str, ffmpeg9: str, packager_bin: str, tmp_path: Path
) -> None:
    pkg = _copy(clear_pkg, tmp_path / "pkg")
    seg = pkg.path("video_360p_400k/2.m4s")
    data = bytearray(seg.read_bytes())
    trun = fmp4.find_boxes(bytes(data), [b"moof", b"traf", b"trun"])[0]
    flags, _count = struct.unpack_from(">II", data, trun.payload)
    assert flags & 0x601 == 0x601  # data offset, per-sample size and flags
    first_flags_at = trun.payload + 8 + 4 + 4
    struct.pack_into(">I", data, first_flags_at, fmp4.NON_SYNC_SAMPLE)
    seg.write_bytes(bytes(data))
    report = verify_package(
        pkg, ffprobe=ffprobe_bin, ffmpeg_decode=ffmpeg9, packager=packager_bin, keys=None
    )
    assert [c.name for c in report.failures] == ["keyframes:video_360p_400k"]
    assert "video_360p_400k/2.m4s" in report.check("keyframes:video_360p_400k").detail


def test_long_segment_fails_duration_check(
    clear_pkg: PackageResult, ffprobe_bin: str, ffmpeg9: str, packager_bin: str, tmp_path: Path
) -> None:
    pkg = replace(_copy(clear_pkg, tmp_path / "pkg"), segment_duration=4)
    report = verify_package(
        pkg, ffprobe=ffprobe_bin, ffmpeg_decode=ffmpeg9, packager=packager_bin, keys=None
    )
    failed = {c.name for c in report.failures}
    assert "durations:video_360p_400k" in failed and "durations:audio_en_2ch" in failed
    assert "6.000s" in report.check("durations:video_360p_400k").detail


def test_segment_info_counts_sync_samples(clear_pkg: PackageResult) -> None:
    init = fmp4.read_init(clear_pkg.path("video_720p_900k/init.mp4").read_bytes())
    seg = fmp4.read_segment(clear_pkg.path("video_720p_900k/1.m4s").read_bytes(), init)
    assert not init.encrypted and init.timescale > 0
    assert seg.sample_count == 144 and seg.sync_samples == 3  # 6 s at 24 fps, 2 s GOPs
    assert seg.duration / init.timescale == pytest.approx(6.0)
