"""Manifest filters against what Shaka Packager 3.4.2 really writes (packaged per session)."""

from __future__ import annotations

import subprocess
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest

from reelflow.config import get_settings
from reelflow.domain.track_classes import HD_MAX_PIXELS, SD_MAX_PIXELS, UHD_MAX_PIXELS
from reelflow.playback_api.delivery.manifest_filter import (
    KEYFORMATS,
    ManifestError,
    NoPlayableVideo,
    filter_hls_master,
    filter_mpd,
    parse_attributes,
    point_media_playlists,
    rebase_hls_uris,
    rewrite_hls_keys,
)

NS = {"m": "urn:mpeg:dash:schema:mpd:2011", "cenc": "urn:mpeg:cenc:2013"}
SD_KID = "11111111111111111111111111111111"
HD_KID = "33333333333333333333333333333333"
AUDIO_KID = "55555555555555555555555555555555"
KEYS = ",".join(
    f"label={label}:key_id={kid}:key={key}"
    for label, kid, key in (
        ("SD", SD_KID, "2" * 32),
        ("HD", HD_KID, "4" * 32),
        ("AUDIO", AUDIO_KID, "6" * 32),
    )
)


@dataclass(frozen=True)
class Package:
    root: Path

    def text(self, name: str) -> str:
        return (self.root / name).read_text()


def _run(cmd: list[str], cwd: Path) -> None:
    subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="session")
def package(tmp_path_factory: pytest.TempPathFactory) -> Package:
    """Two video renditions (360p SD key, 720p HD key) and audio, cbcs, all DRM systems."""
    settings = get_settings()
    ffmpeg, packager = settings.binary("ffmpeg"), settings.binary("packager")
    work = tmp_path_factory.mktemp("packaged")
    for height, width in ((360, 640), (720, 1280)):
        _run(
            [
                ffmpeg,
                "-loglevel",
                "error",
                "-f",
                "lavfi",
                "-i",
                f"testsrc2=size={width}x{height}:rate=24",
                "-t",
                "4",
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-g",
                "48",
                "-keyint_min",
                "48",
                "-sc_threshold",
                "0",
                "-pix_fmt",
                "yuv420p",
                f"v{height}.mp4",
            ],
            work,
        )
    _run(
        [
            ffmpeg,
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "sine=f=440:d=4",
            "-c:a",
            "aac",
            "a.mp4",
        ],
        work,
    )
    streams = [
        f"in=v{h}.mp4,stream=video,init_segment=video/{h}/init.mp4,"
        f"segment_template=video/{h}/$Number$.m4s,playlist_name=video/{h}/main.m3u8,"
        f"iframe_playlist_name=video/{h}/iframe.m3u8"
        for h in (360, 720)
    ]
    streams.append(
        "in=a.mp4,stream=audio,init_segment=audio/init.mp4,segment_template=audio/$Number$.m4s,"
        "playlist_name=audio/main.m3u8,hls_group_id=audio,language=en"
    )
    _run(
        [
            packager,
            *streams,
            "--enable_raw_key_encryption",
            "--keys",
            KEYS,
            "--protection_scheme",
            "cbcs",
            "--clear_lead",
            "0",
            "--protection_systems",
            "Widevine,PlayReady,FairPlay,CommonSystem",
            "--hls_key_uri",
            "skd://placeholder",
            "--generate_static_live_mpd",
            "--segment_duration",
            "2",
            "--mpd_output",
            "x.mpd",
            "--hls_master_playlist_output",
            "master.m3u8",
        ],
        work,
    )
    return Package(work)


def _video_heights(mpd: str) -> list[int]:
    root = ET.fromstring(mpd)
    heights = []
    for adaptation in root.iterfind(".//m:AdaptationSet", NS):
        if adaptation.get("contentType") != "video":
            continue
        for rep in adaptation.iterfind("m:Representation", NS):
            heights.append(int(rep.get("height") or adaptation.get("height") or 0))
    return sorted(heights)


def _default_kids(mpd: str) -> set[str]:
    root = ET.fromstring(mpd)
    attr = "{urn:mpeg:cenc:2013}default_KID"
    return {cp.get(attr, "") for cp in root.iterfind(".//m:ContentProtection", NS) if cp.get(attr)}


def test_packager_output_is_as_expected(package: Package) -> None:
    # Guards the assumptions below: one AdaptationSet per key, heights on the AdaptationSet.
    mpd = package.text("x.mpd")
    assert _video_heights(mpd) == [360, 720]
    assert len(_default_kids(mpd)) == 3


def test_filter_mpd_drops_hd_and_its_key_signalling(package: Package) -> None:
    filtered = filter_mpd(package.text("x.mpd"), max_pixels=SD_MAX_PIXELS)
    assert _video_heights(filtered) == [360]
    kids = _default_kids(filtered)
    assert "33333333-3333-3333-3333-333333333333" not in kids
    assert {"11111111-1111-1111-1111-111111111111", "55555555-5555-5555-5555-555555555555"} == kids
    assert "video/720/" not in filtered
    root = ET.fromstring(filtered)
    assert root.find(".//m:AdaptationSet[@contentType='audio']/m:Representation", NS) is not None
    # Namespaces and DRM systems survive re-serialisation with their usual prefixes.
    assert 'xmlns:cenc="urn:mpeg:cenc:2013"' in filtered
    assert "<cenc:pssh>" in filtered
    assert "urn:uuid:edef8ba9-79d6-4ace-a3c8-27dcd51d21ed" in filtered
    assert 'type="static"' in filtered
    # Every adaptation-set-switching reference points at a set that still exists.
    ids = {a.get("id") for a in root.iterfind(".//m:AdaptationSet", NS)}
    for prop in root.iterfind(".//m:SupplementalProperty", NS):
        if "adaptation-set-switching" in (prop.get("schemeIdUri") or ""):
            assert set((prop.get("value") or "").split(",")) <= ids


def test_filter_mpd_keeps_everything_for_premium(package: Package) -> None:
    filtered = filter_mpd(package.text("x.mpd"), max_pixels=UHD_MAX_PIXELS)
    assert _video_heights(filtered) == [360, 720]
    assert len(_default_kids(filtered)) == 3


def test_filter_mpd_inserts_base_url_first(package: Package) -> None:
    base = "https://edge.example/media/1800000000/AAAAAAAAAAAAAAAAAAAAAA/tt/v1/"
    filtered = filter_mpd(package.text("x.mpd"), max_pixels=HD_MAX_PIXELS, base_url=base)
    root = ET.fromstring(filtered)
    assert root[0].tag == "{urn:mpeg:dash:schema:mpd:2011}BaseURL"
    assert root[0].text == base
    again = filter_mpd(filtered, max_pixels=HD_MAX_PIXELS, base_url=base)
    assert len(ET.fromstring(again).findall("m:BaseURL", NS)) == 1


def test_filter_mpd_with_nothing_playable(package: Package) -> None:
    with pytest.raises(NoPlayableVideo):
        filter_mpd(package.text("x.mpd"), max_pixels=426 * 240)


def test_filter_mpd_multi_rep_adaptation_set_updates_max_height() -> None:
    mpd = """<?xml version="1.0"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static"><Period>
<AdaptationSet id="0" contentType="video" maxWidth="1920" maxHeight="1080">
<Representation id="a" width="960" height="540" bandwidth="1"/>
<Representation id="b" width="1920" height="1080" bandwidth="2">
<ContentProtection schemeIdUri="urn:mpeg:dash:mp4protection:2011" value="cbcs"/></Representation>
</AdaptationSet>
<AdaptationSet id="1" mimeType="image/jpeg">
<Representation id="thumbs" bandwidth="1"/></AdaptationSet>
</Period></MPD>"""
    filtered = filter_mpd(mpd, max_pixels=1280 * 720)
    root = ET.fromstring(filtered)
    video = root.find(".//m:AdaptationSet[@id='0']", NS)
    assert video is not None
    assert [r.get("id") for r in video.iterfind("m:Representation", NS)] == ["a"]
    assert (video.get("maxHeight"), video.get("maxWidth")) == ("540", "960")
    assert "ContentProtection" not in filtered
    assert root.find(".//m:Representation[@id='thumbs']", NS) is not None


_WIDE_MPD = """<?xml version="1.0"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static"><Period>
<AdaptationSet id="0" contentType="video" width="1280" height="536">
<Representation id="wide" bandwidth="2"/></AdaptationSet>
<AdaptationSet id="1" contentType="video">
<Representation id="sd" width="768" height="576" bandwidth="1"/>
<Representation id="nosize" height="360" bandwidth="1"/></AdaptationSet>
</Period></MPD>"""


def test_filter_mpd_counts_pixels_not_lines() -> None:
    # A 2.39:1 film's 1280x536 rung (686,080 pixels, HD) is only 536 lines tall: an SD cap
    # drops it, while a 768x576 one (442,368 pixels) stays; a rendition of unknown size
    # could be any class and goes too.
    root = ET.fromstring(filter_mpd(_WIDE_MPD, max_pixels=SD_MAX_PIXELS))
    assert [r.get("id") for r in root.iterfind(".//m:Representation", NS)] == ["sd"]
    root = ET.fromstring(filter_mpd(_WIDE_MPD, max_pixels=HD_MAX_PIXELS))
    assert [r.get("id") for r in root.iterfind(".//m:Representation", NS)] == ["wide", "sd"]


def test_filter_hls_master_counts_pixels_not_lines() -> None:
    master = (
        "#EXTM3U\n"
        '#EXT-X-STREAM-INF:BANDWIDTH=2,RESOLUTION=1280x536,CODECS="avc1.64001f"\nwide.m3u8\n'
        '#EXT-X-STREAM-INF:BANDWIDTH=1,RESOLUTION=768x576,CODECS="avc1.64001f"\nsd.m3u8\n'
        '#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=1,RESOLUTION=1280x536,URI="wide_iframe.m3u8"\n'
    )
    basic = filter_hls_master(master, max_pixels=SD_MAX_PIXELS)
    assert "sd.m3u8" in basic and "wide" not in basic and "1280x536" not in basic
    assert filter_hls_master(master, max_pixels=HD_MAX_PIXELS).count("wide") == 2


def test_filter_mpd_rejects_non_mpd() -> None:
    with pytest.raises(ManifestError):
        filter_mpd("<html/>", max_pixels=HD_MAX_PIXELS)
    with pytest.raises(ManifestError):
        filter_mpd("<MPD", max_pixels=HD_MAX_PIXELS)


def test_filter_hls_master(package: Package) -> None:
    master = package.text("master.m3u8")
    filtered = filter_hls_master(master, max_pixels=SD_MAX_PIXELS)
    assert "video/360/main.m3u8" in filtered
    assert "video/360/iframe.m3u8" in filtered
    assert "video/720/" not in filtered
    assert "RESOLUTION=1280x720" not in filtered
    assert '#EXT-X-MEDIA:TYPE=AUDIO,URI="audio/main.m3u8"' in filtered
    stream_infs = [line for line in filtered.splitlines() if line.startswith("#EXT-X-STREAM-INF")]
    assert len(stream_infs) == 1
    lines = filtered.splitlines()
    assert lines[lines.index(stream_infs[0]) + 1] == "video/360/main.m3u8"
    assert filter_hls_master(master, max_pixels=HD_MAX_PIXELS).count("#EXT-X-STREAM-INF") == 2
    with pytest.raises(NoPlayableVideo):
        filter_hls_master(master, max_pixels=356 * 200)
    with pytest.raises(ManifestError):
        filter_hls_master("<MPD/>", max_pixels=HD_MAX_PIXELS)


def _keys(playlist: str) -> list[dict[str, str]]:
    return [
        parse_attributes(line) for line in playlist.splitlines() if line.startswith("#EXT-X-KEY")
    ]


def test_rewrite_hls_keys_fairplay(package: Package) -> None:
    media = package.text("video/360/main.m3u8")
    out = rewrite_hls_keys(media, drm="fairplay", key_uri_for_kid=lambda kid: f"skd://{kid}")
    keys = _keys(out)
    assert keys == [
        {
            "METHOD": "SAMPLE-AES",
            "URI": f"skd://{SD_KID}",
            "KEYFORMATVERSIONS": "1",
            "KEYFORMAT": "com.apple.streamingkeydelivery",
        }
    ]
    # Segments and map survive untouched.
    assert out.count("#EXTINF") == media.count("#EXTINF")
    assert '#EXT-X-MAP:URI="init.mp4"' in out


def test_rewrite_hls_keys_clearkey_identity_url(package: Package) -> None:
    media = package.text("audio/main.m3u8")
    seen: list[str] = []

    def key_url(kid: str) -> str:
        seen.append(kid)
        return f"https://api.example/v1/license/clearkey/keys/{kid}?token=abc.def"

    out = rewrite_hls_keys(media, drm="clearkey", key_uri_for_kid=key_url)
    keys = _keys(out)
    assert len(keys) == 1
    assert keys[0]["KEYFORMAT"] == "identity"
    assert (
        keys[0]["URI"] == f"https://api.example/v1/license/clearkey/keys/{AUDIO_KID}?token=abc.def"
    )
    assert keys[0]["IV"].startswith("0x")
    assert seen == [AUDIO_KID]
    assert "skd://" not in out


@pytest.mark.parametrize("drm", ["widevine", "playready"])
def test_rewrite_hls_keys_keeps_pssh_for_widevine_and_playready(package: Package, drm: str) -> None:
    out = rewrite_hls_keys(package.text("video/720/main.m3u8"), drm=drm)  # type: ignore[arg-type]
    keys = _keys(out)
    assert len(keys) == 1
    assert keys[0]["KEYFORMAT"] == KEYFORMATS[drm]
    assert keys[0]["URI"].startswith("data:text/plain")


def test_rewrite_hls_keys_iframe_playlist_and_errors(package: Package) -> None:
    iframe = package.text("video/720/iframe.m3u8")
    out = rewrite_hls_keys(iframe, drm="fairplay", key_uri_for_kid=lambda kid: f"skd://{kid}")
    assert _keys(out)[0]["URI"] == f"skd://{HD_KID}"
    assert "#EXT-X-BYTERANGE" in out
    with pytest.raises(ManifestError, match="key_uri_for_kid"):
        rewrite_hls_keys(iframe, drm="clearkey")
    with pytest.raises(ManifestError, match="quotes"):
        rewrite_hls_keys(iframe, drm="clearkey", key_uri_for_kid=lambda kid: 'x",URI="evil')
    only_fairplay = "\n".join(
        line
        for line in iframe.splitlines()
        if not line.startswith("#EXT-X-KEY") or "streamingkeydelivery" in line
    )
    with pytest.raises(ManifestError, match="no EXT-X-KEY for clearkey"):
        rewrite_hls_keys(only_fairplay, drm="clearkey", key_uri_for_kid=str)
    with pytest.raises(ManifestError, match="KEYID"):
        rewrite_hls_keys(only_fairplay, drm="fairplay", key_uri_for_kid=str)
    explicit = rewrite_hls_keys(
        only_fairplay, drm="fairplay", key_uri_for_kid=lambda k: f"skd://{k}", kid="0x" + "A" * 32
    )
    assert _keys(explicit)[0]["URI"] == "skd://" + "a" * 32


def test_rebase_hls_uris(package: Package) -> None:
    base = "https://edge.example/media/1/AAAAAAAAAAAAAAAAAAAAAA/tt/v1/video/360/"
    out = rebase_hls_uris(package.text("video/360/main.m3u8"), base)
    assert f"{base}1.m4s" in out.splitlines()
    assert f'#EXT-X-MAP:URI="{base}init.mp4"' in out
    assert 'URI="skd://placeholder"' in out  # keys are rewrite_hls_keys' business
    master = rebase_hls_uris(package.text("master.m3u8"), "https://api.example/m/")
    assert 'URI="https://api.example/m/audio/main.m3u8"' in master
    assert "https://api.example/m/video/720/main.m3u8" in master.splitlines()


def test_point_media_playlists(package: Package) -> None:
    out = point_media_playlists(package.text("master.m3u8"), "hls/", "token=t")
    assert "hls/video/360/main.m3u8?token=t" in out.splitlines()
    assert 'URI="hls/audio/main.m3u8?token=t"' in out
    assert 'URI="hls/video/360/iframe.m3u8?token=t"' in out
    assert all(not line or line.startswith(("#", "hls/")) for line in out.splitlines())
