"""Which ffmpeg measures VMAF: the libvmaf filter is checked, never assumed, and the
metric in use is reported (doctor) rather than silently falling back to PSNR."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from reelflow.cli.doctor import quality_metric_check
from reelflow.config import ConfigError, Settings
from reelflow.media.quality import ffmpeg_has_libvmaf, vmaf_ffmpeg
from tests.cli.test_app import run

DEBIAN_FFMPEG = shutil.which("ffmpeg")  # Debian's 5.1: no libvmaf
imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")
STATIC_FFMPEG: str = imageio_ffmpeg.get_ffmpeg_exe()  # static build with libvmaf


def test_filter_list_decides(tmp_path: Path) -> None:
    assert DEBIAN_FFMPEG is not None
    assert ffmpeg_has_libvmaf(STATIC_FFMPEG) is True
    assert ffmpeg_has_libvmaf(DEBIAN_FFMPEG) is False
    assert ffmpeg_has_libvmaf(str(tmp_path / "no-such-ffmpeg")) is False
    not_ffmpeg = tmp_path / "fake-ffmpeg"
    not_ffmpeg.write_text("#!/bin/sh\necho 'libvmaf is here, trust me'\n")
    not_ffmpeg.chmod(0o755)
    assert ffmpeg_has_libvmaf(str(not_ffmpeg)) is False  # a mention is not a filter row


def test_configured_ffmpeg_without_libvmaf_is_a_config_error(tmp_path: Path) -> None:
    assert DEBIAN_FFMPEG is not None
    settings = Settings(home=tmp_path, vmaf_ffmpeg_path=DEBIAN_FFMPEG)
    with pytest.raises(ConfigError, match="REELFLOW_VMAF_FFMPEG_PATH"):
        vmaf_ffmpeg(settings)
    check = quality_metric_check(settings)
    assert not check.ok and check.required and "libvmaf" in check.detail
    good = Settings(home=tmp_path, vmaf_ffmpeg_path=STATIC_FFMPEG)
    assert vmaf_ffmpeg(good) == STATIC_FFMPEG
    assert quality_metric_check(good).detail.startswith("VMAF available")


def test_default_static_build_without_libvmaf_means_psnr_fallback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A real ffmpeg that lacks the filter stands where imageio's build would be.
    monkeypatch.setattr(imageio_ffmpeg, "get_ffmpeg_exe", lambda: DEBIAN_FFMPEG)
    settings = Settings(home=tmp_path)
    assert vmaf_ffmpeg(settings) is None
    check = quality_metric_check(settings)
    assert not check.ok and not check.required and "PSNR fallback" in check.detail


def test_doctor_prints_the_metric(tmp_path: Path) -> None:
    ok = run("doctor", "--no-services", home=tmp_path)
    assert "VMAF available" in ok.stdout, ok.stdout
    assert DEBIAN_FFMPEG is not None
    bad = run("doctor", "--no-services", home=tmp_path, REELFLOW_VMAF_FFMPEG_PATH=DEBIAN_FFMPEG)
    assert bad.returncode == 1 and "REELFLOW_VMAF_FFMPEG_PATH" in bad.stdout, bad.stdout
