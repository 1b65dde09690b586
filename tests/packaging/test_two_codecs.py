"""An AV1 ladder beside the H.264 one in one package: real SVT-AV1 and Shaka Packager.

One adaptation set per codec (and track class) in DASH, CODECS-labelled HLS variants, the
same content key per track class for both codecs, and the package verification passing.
"""

from __future__ import annotations

import re
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from reelflow.config import get_settings
from reelflow.domain.content_keys import ContentKey
from reelflow.domain.track_classes import TrackClass
from reelflow.packaging.packager import PackageResult, package
from reelflow.packaging.streams import VideoRendition
from reelflow.packaging.verify import verify_package
from tests.packaging.conftest import Media

MPD = "{urn:mpeg:dash:schema:mpd:2011}"
CENC = "{urn:mpeg:cenc:2013}"


def _av1(path: Path, width: int, height: int, rate: str) -> Path:
    subprocess.run(
        [
            get_settings().binary("ffmpeg"), "-hide_banner", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate=24:duration=8",
            "-c:v", "libsvtav1", "-preset", "12", "-pix_fmt", "yuv420p", "-b:v", rate,
            "-g", "48", "-keyint_min", "48", "-sc_threshold", "0", "-r", "24",
            "-svtav1-params", "keyint=48:irefresh-type=2:scd=0", "-an", str(path),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return path


@pytest.fixture(scope="module")
def two_codec_pkg(
    media: Media,
    packager_bin: str,
    content_keys: dict[TrackClass, ContentKey],
    tmp_path_factory: pytest.TempPathFactory,
) -> PackageResult:
    d = tmp_path_factory.mktemp("av1-media")
    av1 = [
        VideoRendition(_av1(d / "a360.mp4", 640, 360, "250k"), 640, 360, 250_000, codec="av1"),
        VideoRendition(_av1(d / "a720.mp4", 1280, 720, "600k"), 1280, 720, 600_000, codec="av1"),
    ]
    return package(
        [*media.videos(), *av1],
        media.audios(),
        [],
        out_dir=tmp_path_factory.mktemp("pkg-two-codecs") / "out",
        packager=packager_bin,
        keys=content_keys,
    )


def _video_sets(mpd: Path) -> list[tuple[str, int, str]]:
    """(codecs, height, default KID hex) of each video AdaptationSet."""
    out: list[tuple[str, int, str]] = []
    for aset in ET.parse(mpd).getroot().iter(f"{MPD}AdaptationSet"):
        if aset.get("contentType") != "video":
            continue
        reps = aset.findall(f"{MPD}Representation")
        codecs = {r.get("codecs") or "" for r in reps}
        assert len(codecs) == 1, f"one codec per adaptation set, got {codecs}"
        kids = {
            (cp.get(f"{CENC}default_KID") or "").replace("-", "")
            for cp in aset.findall(f"{MPD}ContentProtection")
        } - {""}
        assert len(kids) == 1, kids
        height = int(aset.get("height") or reps[0].get("height") or 0)
        out.append((codecs.pop(), height, kids.pop()))
    return out


def test_dash_has_an_adaptation_set_per_codec_with_the_same_key_per_class(
    two_codec_pkg: PackageResult, content_keys: dict[TrackClass, ContentKey]
) -> None:
    sets = _video_sets(two_codec_pkg.mpd_path)
    by_codec: dict[str, dict[int, str]] = {}
    for codecs, height, kid in sets:
        by_codec.setdefault(codecs[:4], {})[height] = kid
    assert set(by_codec) == {"avc1", "av01"}
    sd, hd = content_keys[TrackClass.SD].kid.hex(), content_keys[TrackClass.HD].kid.hex()
    # The AV1 720p rung is unlocked by the HD key the H.264 720p rung uses, and so on.
    assert by_codec["avc1"] == {360: sd, 720: hd}
    assert by_codec["av01"] == {360: sd, 720: hd}


def test_hls_master_labels_each_variant_with_its_codec(two_codec_pkg: PackageResult) -> None:
    master = two_codec_pkg.hls_master_path.read_text()
    variants = re.findall(r'#EXT-X-STREAM-INF:.*?CODECS="([^"]+)",RESOLUTION=(\d+x\d+)', master)
    video = {(codecs.split(",")[0][:4], res) for codecs, res in variants}
    assert video == {
        ("avc1", "640x360"),
        ("avc1", "1280x720"),
        ("av01", "640x360"),
        ("av01", "1280x720"),
    }
    assert all("mp4a" in codecs for codecs, _ in variants), "each variant names its audio too"


def test_streams_of_two_codecs_get_distinct_names(two_codec_pkg: PackageResult) -> None:
    names = {r.name for r in two_codec_pkg.representations if r.kind == "video"}
    assert names == {
        "video_360p_400k",
        "video_720p_900k",
        "video_av1_360p_250k",
        "video_av1_720p_600k",
    }
    av1 = [r for r in two_codec_pkg.representations if r.name.startswith("video_av1_")]
    assert all((r.codecs or "").startswith("av01.") for r in av1)
    assert {r.track_class for r in av1} == {TrackClass.SD, TrackClass.HD}


def test_verification_decrypts_and_decodes_the_av1_rungs(
    two_codec_pkg: PackageResult,
    content_keys: dict[TrackClass, ContentKey],
    ffprobe_bin: str,
    ffmpeg9: str,
    packager_bin: str,
) -> None:
    report = verify_package(
        two_codec_pkg,
        ffprobe=ffprobe_bin,
        ffmpeg_decode=ffmpeg9,
        packager=packager_bin,
        keys=content_keys,
    )
    assert report.passed, [(f.name, f.detail) for f in report.failures]
    checked = " ".join(ch.name for ch in report.checks)
    assert "video_av1_360p_250k" in checked and "video_av1_720p_600k" in checked


def test_a_plan_ceiling_cuts_both_codecs_to_their_sd_sets(
    two_codec_pkg: PackageResult, content_keys: dict[TrackClass, ContentKey]
) -> None:
    from reelflow.domain.track_classes import SD_MAX_PIXELS
    from reelflow.playback_api.delivery.manifest_filter import filter_hls_master, filter_mpd

    basic = Path(two_codec_pkg.out_dir) / "basic.mpd"
    basic.write_text(filter_mpd(two_codec_pkg.mpd_path.read_text(), max_pixels=SD_MAX_PIXELS))
    sd = content_keys[TrackClass.SD].kid.hex()
    assert sorted((codecs[:4], h, kid) for codecs, h, kid in _video_sets(basic)) == [
        ("av01", 360, sd),
        ("avc1", 360, sd),
    ]
    master = filter_hls_master(two_codec_pkg.hls_master_path.read_text(), max_pixels=SD_MAX_PIXELS)
    assert "RESOLUTION=1280x720" not in master
    assert 'CODECS="av01.' in master and 'CODECS="avc1.' in master
