from __future__ import annotations

import base64
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from reelflow.domain.content_keys import ContentKey, generate_content_keys
from reelflow.domain.track_classes import TrackClass
from reelflow.packaging import drm
from reelflow.packaging.errors import PackagerError, PackagerInputError
from reelflow.packaging.packager import PackageResult, package, packager_args
from reelflow.packaging.packager_run import key_flags
from reelflow.packaging.streams import AudioTrack, VideoRendition, plan_streams
from tests.packaging.conftest import Media

MPD_NS = "{urn:mpeg:dash:schema:mpd:2011}"


def test_mpd_is_static_with_all_dash_drm(
    encrypted_pkg: PackageResult, content_keys: dict[TrackClass, ContentKey]
) -> None:
    root = ET.parse(encrypted_pkg.mpd_path).getroot()
    assert root.get("type") == "static"
    assert root.find(f".//{MPD_NS}SegmentTemplate") is not None
    assert drm.mpd_drm_systems(encrypted_pkg.mpd_path) == {"widevine", "playready", "clearkey"}
    cps = drm.mpd_content_protection(encrypted_pkg.mpd_path)
    schemes = {cp.value for cp in cps if cp.scheme_id_uri == "urn:mpeg:dash:mp4protection:2011"}
    assert schemes == {"cbcs"}
    default_kids = {cp.default_kid for cp in cps if cp.default_kid}
    assert default_kids == {k.kid.hex() for k in content_keys.values()}


def test_hls_media_playlists_signal_fairplay_per_class(
    encrypted_pkg: PackageResult, content_keys: dict[TrackClass, ContentKey]
) -> None:
    for rep in encrypted_pkg.representations:
        for playlist in filter(None, (rep.playlist, rep.iframe_playlist)):
            text = encrypted_pkg.path(playlist).read_text()
            if rep.kind == "text":
                assert drm.parse_hls_keys(text) == []
                continue
            assert rep.track_class is not None
            kid = content_keys[rep.track_class].kid.hex()
            keys = {k.keyformat: k for k in drm.parse_hls_keys(text)}
            assert set(keys) == {
                "identity",
                "com.apple.streamingkeydelivery",
                "com.microsoft.playready",
                drm.WIDEVINE.hls_keyformat,
            }
            assert keys["com.apple.streamingkeydelivery"].uri == f"skd://{kid}"
            assert keys["identity"].uri == f"skd://{kid}"
            # web players fetch the identity key: the line must carry its IV
            assert keys["identity"].iv is not None
            assert keys[str(drm.WIDEVINE.hls_keyformat)].keyid == kid
            assert all(k.method == "SAMPLE-AES" for k in keys.values())
            assert drm.HLS_KEY_URI_PLACEHOLDER not in text


def test_hls_master_has_iframes_audio_and_subtitles(encrypted_pkg: PackageResult) -> None:
    master = encrypted_pkg.hls_master_path.read_text()
    assert master.count("#EXT-X-I-FRAME-STREAM-INF") == 2
    assert (
        'TYPE=AUDIO,URI="audio_en_2ch.m3u8",GROUP-ID="audio",LANGUAGE="en",NAME="English"' in master
    )
    assert 'TYPE=SUBTITLES,URI="text_en.m3u8"' in master and 'LANGUAGE="en"' in master
    assert "RESOLUTION=1280x720" in master and "RESOLUTION=640x360" in master
    mpd = encrypted_pkg.mpd_path.read_text()
    assert 'mimeType="text/vtt"' in mpd and 'lang="en"' in mpd


def test_result_describes_package(
    encrypted_pkg: PackageResult, content_keys: dict[TrackClass, ContentKey]
) -> None:
    r = encrypted_pkg
    assert r.drm_systems == ("clearkey", "fairplay", "playready", "widevine")
    assert r.kids == {tc.value: k.kid.hex() for tc, k in content_keys.items()}
    by_name = {rep.name: rep for rep in r.representations}
    assert by_name["video_360p_400k"].track_class is TrackClass.SD
    assert by_name["video_720p_900k"].track_class is TrackClass.HD
    assert by_name["audio_en_2ch"].track_class is TrackClass.AUDIO
    assert all(rep.bandwidth > 0 for rep in r.representations)
    assert (by_name["video_720p_900k"].width, by_name["video_720p_900k"].height) == (1280, 720)
    assert by_name["video_360p_400k"].segments == ("video_360p_400k/1.m4s", "video_360p_400k/2.m4s")
    for rel in r.files:
        assert r.path(rel).is_file()
    assert {"manifest.mpd", "master.m3u8", "video_720p_900k_iframe.m3u8"} <= set(r.files)
    assert r.thumbnails_vtt == "thumbs/thumbs.vtt"
    assert {"thumbs/thumbs.vtt", "thumbs/sprite_0.jpg"} <= set(r.files)


def test_no_key_bytes_in_package(
    encrypted_pkg: PackageResult, content_keys: dict[TrackClass, ContentKey]
) -> None:
    secrets = []
    for k in content_keys.values():
        secrets += [k.key, k.key.hex().encode(), base64.b64encode(k.key).rstrip(b"=")]
    for rel in encrypted_pkg.files:
        data = encrypted_pkg.path(rel).read_bytes()
        for s in secrets:
            assert s not in data, rel


def test_key_args_stay_off_the_command_line(
    media: Media, content_keys: dict[TrackClass, ContentKey], tmp_path: Path
) -> None:
    streams = plan_streams(media.videos(), media.audios(), encrypted=True)
    with key_flags(content_keys) as flags:
        args = packager_args(streams, key_flags=flags)
        joined = " ".join(args)
        assert all(k.key.hex() not in joined for k in content_keys.values())
        assert "--generate_static_live_mpd" in args and "cbcs" in args and "--clear_lead" in args
        assert flags.arg in args and flags.arg.startswith("--flagfile=/proc/self/fd/")
        # the flag file is in memory: nothing under the folders a run writes to holds a key
        on_disk = [p for p in tmp_path.rglob("*") if p.is_file()]
        assert all(content_keys[TrackClass.HD].key.hex() not in p.read_text() for p in on_disk)
        assert (
            content_keys[TrackClass.HD].key.hex() in Path(f"/proc/self/fd/{flags.fd}").read_text()
        )


def test_clear_package_has_no_drm(clear_pkg: PackageResult) -> None:
    assert clear_pkg.drm_systems == () and clear_pkg.kids == {} and not clear_pkg.encrypted
    assert drm.mpd_content_protection(clear_pkg.mpd_path) == []
    for rep in clear_pkg.representations:
        assert "#EXT-X-KEY" not in clear_pkg.path(rep.playlist).read_text()
    assert ET.parse(clear_pkg.mpd_path).getroot().get("type") == "static"


def test_corrupt_input_names_the_stream(media: Media, packager_bin: str, tmp_path: Path) -> None:
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypisom" + b"garbage" * 100)
    videos = [media.videos()[0], VideoRendition(bad, 1280, 720, 900_000, name="broken_720p")]
    with pytest.raises(PackagerError) as err:
        package(videos, media.audios(), out_dir=tmp_path / "out", packager=packager_bin)
    assert "broken_720p" in err.value.stream and str(bad) in err.value.stream
    assert err.value.packager_message
    assert "broken_720p" in str(err.value)


def test_wrong_stream_type_names_the_stream(
    media: Media, packager_bin: str, tmp_path: Path
) -> None:
    # an audio-only file given as a video rendition: the packager says "stream=video not available"
    videos = [VideoRendition(media.audio, 640, 360, 400_000, name="not_video")]
    with pytest.raises(PackagerError, match=r"not_video.*not available"):
        package(videos, [], out_dir=tmp_path / "out", packager=packager_bin)


def test_missing_input_named_before_running(
    media: Media, packager_bin: str, tmp_path: Path
) -> None:
    audios = [AudioTrack(tmp_path / "nope.mp4", "fr")]
    with pytest.raises(PackagerInputError, match=r"audio 'audio_fr_2ch'.*nope\.mp4"):
        package(media.videos(), audios, out_dir=tmp_path / "out", packager=packager_bin)


def test_missing_key_for_class(media: Media, packager_bin: str, tmp_path: Path) -> None:
    keys = generate_content_keys([TrackClass.SD, TrackClass.AUDIO])
    with pytest.raises(PackagerInputError, match="HD"):
        package(
            media.videos(), media.audios(), out_dir=tmp_path / "o", packager=packager_bin, keys=keys
        )


def test_output_folder_must_be_empty(media: Media, packager_bin: str, tmp_path: Path) -> None:
    (tmp_path / "stale.m4s").write_bytes(b"x")
    with pytest.raises(PackagerInputError, match="not empty"):
        package(media.videos(), media.audios(), out_dir=tmp_path, packager=packager_bin)
