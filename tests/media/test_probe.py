from __future__ import annotations

import json
from pathlib import Path

import pytest

from reelflow.media.errors import FFmpegError, FFmpegTimeout, ProbeError
from reelflow.media.ffmpeg_run import run_ffmpeg, run_ffprobe_json
from reelflow.media.probe import (
    MASTER_INPUT_OPTIONS,
    MasterFormatRefused,
    MediaInfo,
    VideoStream,
    probe,
)
from reelflow.media.qc import run_qc
from tests.media.conftest import ClipMaker


def test_probe_clean_clip(clip: ClipMaker, ffprobe: str) -> None:
    info = probe(clip("clean"), ffprobe=ffprobe)
    assert info.format_name.startswith("mov,mp4")
    assert info.duration_s == pytest.approx(4.0, abs=0.1)
    assert info.size_bytes == clip("clean").stat().st_size
    v = info.video
    assert v is not None
    assert (v.codec, v.width, v.height, v.pix_fmt) == ("h264", 320, 240, "yuv420p")
    assert v.fps == pytest.approx(25.0)
    assert v.rotation == 0
    assert info.has_audio and info.audio[0].codec == "aac"
    assert info.audio[0].sample_rate == 44100
    assert not info.is_vfr and not info.is_hdr


def test_probe_round_trips_through_json(clip: ClipMaker, ffprobe: str) -> None:
    info = probe(clip("clean"), ffprobe=ffprobe)
    again = MediaInfo.from_dict(json.loads(json.dumps(info.to_dict())))
    assert again == info


def test_probe_rotation_and_hdr(clip: ClipMaker, ffprobe: str) -> None:
    rotated = probe(clip("rotated"), ffprobe=ffprobe)
    assert rotated.video is not None
    # The "rotate=90" tag is applied by ffmpeg's autorotate as a quarter turn.
    assert rotated.video.rotation in (90, 270)
    assert rotated.video.display_size == (240, 320)
    hdr = probe(clip("hdr"), ffprobe=ffprobe)
    assert hdr.is_hdr
    assert hdr.video is not None and hdr.video.color_transfer == "smpte2084"


def test_probe_audio_only_has_no_video(clip: ClipMaker, ffprobe: str) -> None:
    info = probe(clip("audio_only"), ffprobe=ffprobe)
    assert info.video is None and info.has_audio


def test_is_vfr_compares_average_and_real_rates() -> None:
    def with_rates(avg: float, r: float) -> MediaInfo:
        video = VideoStream(
            0, "h264", 320, 240, "yuv420p", avg, avg, r, None, None, None, 0, "1:1", None, None
        )
        return MediaInfo("mp4", 1.0, 1, None, video, (), ())

    assert with_rates(23.5, 25.0).is_vfr
    assert not with_rates(25.0, 25.0).is_vfr
    assert not with_rates(29.97, 29.97).is_vfr


@pytest.mark.parametrize("content", [b"", b"just some text, not a video\n"])
def test_probe_rejects_non_media(tmp_path: Path, ffprobe: str, content: bytes) -> None:
    path = tmp_path / "bad.mp4"
    path.write_bytes(content)
    with pytest.raises(ProbeError, match=r"bad\.mp4"):
        probe(path, ffprobe=ffprobe)


def test_probe_missing_file(tmp_path: Path, ffprobe: str) -> None:
    with pytest.raises(ProbeError, match="no such file"):
        probe(tmp_path / "absent.mp4", ffprobe=ffprobe)


def test_run_ffprobe_json(clip: ClipMaker, ffprobe: str) -> None:
    data = run_ffprobe_json(["-show_format", str(clip("clean"))], ffprobe=ffprobe)
    assert float(data["format"]["duration"]) > 0


def test_run_ffmpeg_reports_progress(clip: ClipMaker, ffmpeg: str) -> None:
    seen: list[float] = []
    stderr = run_ffmpeg(
        ["-i", str(clip("clean")), "-f", "null", "-"],
        ffmpeg=ffmpeg,
        duration_s=4.0,
        on_progress=seen.append,
    )
    assert "Input #0" in stderr
    assert seen and seen[-1] == 1.0
    assert all(0.0 <= f <= 1.0 for f in seen)
    assert seen == sorted(seen)


def test_run_ffmpeg_error_carries_stderr_tail(tmp_path: Path, ffmpeg: str) -> None:
    with pytest.raises(FFmpegError) as info:
        run_ffmpeg(["-i", str(tmp_path / "absent.mp4"), "-f", "null", "-"], ffmpeg=ffmpeg)
    assert "absent.mp4" in info.value.stderr_tail
    assert info.value.returncode != 0


def test_run_ffmpeg_timeout(ffmpeg: str) -> None:
    # -re paces a 60 s source in real time, so a 0.5 s limit must cut it off.
    args = ["-re", "-f", "lavfi", "-i", "testsrc2=s=64x64:d=60", "-f", "null", "-"]
    with pytest.raises(FFmpegTimeout):
        run_ffmpeg(args, ffmpeg=ffmpeg, timeout_s=0.5)
    with pytest.raises(FFmpegTimeout):
        run_ffmpeg(args, ffmpeg=ffmpeg, timeout_s=0.5, duration_s=60, on_progress=lambda f: None)


def _listings(target: Path) -> dict[str, str]:
    """Text "masters" that make ffmpeg open ``target`` (or a URL) if it follows them."""
    return {
        "hls_file_url": (
            f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:4.0,\nfile://{target}\n#EXT-X-ENDLIST\n"
        ),
        "hls_relative": (
            f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:4.0,\n../{target.parent.name}/"
            f"{target.name}\n#EXT-X-ENDLIST\n"
        ),
        "hls_network": (
            "#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:4.0,\n"
            "http://127.0.0.1:9/secret.ts\n#EXT-X-ENDLIST\n"
        ),
        "ffconcat": f"ffconcat version 1.0\nfile '{target}'\n",
        "dash": (
            '<?xml version="1.0"?><MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" '
            'mediaPresentationDuration="PT4S" '
            'profiles="urn:mpeg:dash:profile:isoff-on-demand:2011">'
            f'<Period><AdaptationSet><Representation id="1" bandwidth="1"><BaseURL>{target}'
            "</BaseURL></Representation></AdaptationSet></Period></MPD>\n"
        ),
    }


@pytest.mark.parametrize(
    ("label", "demuxer"),
    [
        ("hls_file_url", "hls"),
        ("hls_relative", "hls"),
        ("hls_network", "hls"),
        ("ffconcat", "concat"),
        ("dash", "dash"),
    ],
)
def test_extensionless_listing_master_is_refused(
    label: str, demuxer: str, clip: ClipMaker, ffmpeg: str, ffprobe: str, tmp_path: Path
) -> None:
    local = clip("clean")  # another local file the listing points at
    master = tmp_path / "master"  # no extension: ffmpeg goes by content
    master.write_text(_listings(local)[label])
    if label == "hls_file_url":
        # Without the allow-lists the attack works: ffprobe reads the other local file.
        opened = run_ffprobe_json(["-show_format", str(master)], ffprobe=ffprobe)
        assert opened["format"]["format_name"] == "hls"
    with pytest.raises(MasterFormatRefused) as err:
        probe(master, ffprobe=ffprobe)
    assert err.value.demuxer == demuxer and f"'{demuxer}' is not accepted" in str(err.value)
    report = run_qc(master, ffmpeg=ffmpeg, ffprobe=ffprobe)
    check = report.check("probe")
    assert (
        check is not None
        and check.status == "fail"
        and "not accepted for a master" in (check.reason)
    )
    # The decode passes use the same options: ffmpeg itself refuses the listing too.
    with pytest.raises(FFmpegError) as ff:
        run_ffmpeg([*MASTER_INPUT_OPTIONS, "-i", str(master), "-f", "null", "-"], ffmpeg=ffmpeg)
    assert "not on whitelist" in ff.value.stderr_tail


def test_real_masters_pass_the_allow_lists(
    clip: ClipMaker, ffmpeg: str, ffprobe: str, tmp_path: Path
) -> None:
    mkv = tmp_path / "master.mkv"
    run_ffmpeg(["-i", str(clip("clean")), "-c", "copy", "-y", str(mkv)], ffmpeg=ffmpeg)
    ts = tmp_path / "master"  # extensionless MPEG-TS: allowed, it opens nothing else
    run_ffmpeg(["-i", str(clip("clean")), "-c", "copy", "-f", "mpegts", "-y", str(ts)],
               ffmpeg=ffmpeg)  # fmt: skip
    for path, name in ((clip("clean"), "mov,mp4"), (mkv, "matroska"), (ts, "mpegts")):
        assert probe(path, ffprobe=ffprobe).format_name.startswith(name)
