from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from reelflow.media.audio import AudioError, encode_audio
from reelflow.media.probe import probe
from tests.media._clips_b import FFMPEG, FFPROBE, Clips, clips_b

__all__ = ["clips_b"]


def _integrated_lufs(path: Path) -> float:
    # ebur128 in its own audio-only pass (in a graph with video it reads 0).
    out = subprocess.run(
        [FFMPEG, "-hide_banner", "-nostats", "-i", str(path), "-af", "ebur128", "-f", "null", "-"],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(re.findall(r"I:\s+(-?[0-9.]+) LUFS", out.stderr)[-1])


def test_stereo_source_gives_one_aac_track(clips_b: Clips, tmp_path: Path) -> None:
    src = clips_b["enc"]
    tracks = encode_audio(
        src, tmp_path, ffmpeg=FFMPEG, info=probe(src, ffprobe=FFPROBE), normalize=False
    )
    assert len(tracks) == 1
    t = tracks[0]
    assert (t.language, t.channels, t.codec, t.bitrate_kbps) == ("und", 2, "aac", 128)
    info = probe(t.path, ffprobe=FFPROBE)
    assert info.video is None
    assert [(a.codec, a.channels, a.sample_rate) for a in info.audio] == [("aac", 2, 48000)]
    assert info.duration_s == pytest.approx(8.0, abs=0.1)
    assert sorted(p.name for p in tmp_path.iterdir()) == [t.path.name]  # no temp files left


def test_surround_and_languages(clips_b: Clips, tmp_path: Path) -> None:
    src = clips_b["multiaudio"]
    tracks = encode_audio(
        src, tmp_path, ffmpeg=FFMPEG, info=probe(src, ffprobe=FFPROBE), normalize=False
    )
    assert [(t.language, t.channels, t.bitrate_kbps) for t in tracks] == [
        ("eng", 2, 128),
        ("eng", 6, 384),
        ("fra", 2, 128),
    ]
    for t in tracks:
        info = probe(t.path, ffprobe=FFPROBE)
        assert len(info.audio) == 1
        a = info.audio[0]
        assert (a.channels, a.sample_rate, a.language) == (t.channels, 48000, t.language)
    assert len({t.path for t in tracks}) == 3


def test_normalize_brings_quiet_audio_to_target(clips_b: Clips, tmp_path: Path) -> None:
    src = clips_b["multiaudio"]
    info = probe(src, ffprobe=FFPROBE)
    plain = encode_audio(src, tmp_path / "plain", ffmpeg=FFMPEG, info=info, normalize=False)
    loud = encode_audio(
        src, tmp_path / "norm", ffmpeg=FFMPEG, info=info, normalize=True, target_lufs=-23
    )
    assert _integrated_lufs(plain[0].path) < -40  # the English source is 30 dB down
    assert _integrated_lufs(loud[0].path) == pytest.approx(-23.0, abs=2.0)
    assert all(t.normalized for t in loud)


def test_no_audio_is_a_named_error(clips_b: Clips, tmp_path: Path) -> None:
    src = clips_b["landscape"]
    with pytest.raises(AudioError):
        encode_audio(src, tmp_path, ffmpeg=FFMPEG, info=probe(src, ffprobe=FFPROBE), normalize=True)
    with pytest.raises(AudioError):
        encode_audio(
            clips_b["enc"],
            tmp_path,
            ffmpeg=FFMPEG,
            info=probe(clips_b["enc"], ffprobe=FFPROBE),
            normalize=True,
            target_lufs=0,
        )


def test_tracks_encode_side_by_side_one_process_each(clips_b: Clips, tmp_path: Path) -> None:
    """Three tracks with two at a time: a second ffmpeg starts before the first ends."""
    log = tmp_path / "runs.log"
    wrapper = tmp_path / "ffmpeg"
    wrapper.write_text(
        f'#!/bin/sh\necho "start $$" >> {log}\n{FFMPEG} "$@"\nrc=$?\necho "end $$" >> {log}\n'
        "exit $rc\n"
    )
    wrapper.chmod(0o755)
    src = clips_b["multiaudio"]
    info = probe(src, ffprobe=FFPROBE)
    out = tmp_path / "out"
    tracks = encode_audio(src, out, ffmpeg=str(wrapper), info=info, normalize=False, max_parallel=2)
    events = [line.split()[0] for line in log.read_text().splitlines()]
    assert events.count("start") == 3 and events.count("end") == 3  # one process per track
    assert events[:2] == ["start", "start"]  # two ran at once
    assert sorted(p.name for p in out.iterdir()) == sorted(t.path.name for t in tracks)


def test_a_failed_track_leaves_no_output_of_any_track(clips_b: Clips, tmp_path: Path) -> None:
    src = clips_b["multiaudio"]
    with pytest.raises(Exception, match=r"ffmpeg \(audio_eng_(stereo|51)|ffmpeg \(audio_fra"):
        encode_audio(
            src,
            tmp_path,
            ffmpeg=FFMPEG,
            info=probe(src, ffprobe=FFPROBE),
            normalize=False,
            timeout_s=0.01,
        )
    assert list(tmp_path.iterdir()) == []  # neither temps nor the tracks that finished
