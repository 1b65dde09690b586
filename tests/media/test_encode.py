from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from reelflow.domain.ladders import Rung
from reelflow.media.chunks import Chunk, plan_chunks
from reelflow.media.encode import (
    EncodeAdaptations,
    EncodeError,
    chunk_frames,
    encode_chunk,
    join_chunks,
)
from reelflow.media.errors import FFmpegError
from reelflow.media.probe import probe
from reelflow.media.qc import run_qc
from reelflow.media.quality import measure_quality
from reelflow.media.rendition_check import verify_rendition
from tests.media._clips_b import FFMPEG, FFPROBE, Clips, clips_b

__all__ = ["clips_b"]

RUNGS = (
    Rung("240p", 426, 240, 300, 450, 900),
    # capped CRF, as per-title rungs are encoded
    Rung("360p", 640, 360, 800, 1200, 2400, crf=26.5),
)


def _stream(path: Path) -> dict[str, str]:
    out = subprocess.run(
        [
            FFPROBE,
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-count_frames",
            "-show_entries",
            "stream=width,height,sample_aspect_ratio,nb_read_frames,codec_name,codec_tag_string,"
            "r_frame_rate,avg_frame_rate",
            "-of",
            "json",
            str(path),
        ],
        capture_output=True,
        check=True,
        text=True,
    )
    stream: dict[str, str] = json.loads(out.stdout)["streams"][0]
    return stream


@dataclass
class Chunked:
    chunks: list[Chunk]
    parts: dict[str, list[Path]]
    joined: dict[str, Path]
    progress: list[float]


@pytest.fixture(scope="module")
def chunked(clips_b: Clips, tmp_path_factory: pytest.TempPathFactory) -> Chunked:
    """The 8 s ``enc`` clip in 2 s chunks (4 chunks) x 2 rungs, joined per rung."""
    out = tmp_path_factory.mktemp("chunked")
    chunks = plan_chunks(8.0, segment_s=2, chunk_segments=1)
    parts: dict[str, list[Path]] = {r.name: [] for r in RUNGS}
    progress: list[float] = []
    for c in chunks:
        res = encode_chunk(
            clips_b["enc"],
            c,
            RUNGS,
            out / "parts",
            ffmpeg=FFMPEG,
            fps=25.0,
            gop_s=2,
            on_progress=progress.append,
        )
        for name, path in res.items():
            parts[name].append(path)
    joined = {
        name: join_chunks(ps, out / f"{name}.mp4", ffmpeg=FFMPEG) for name, ps in parts.items()
    }
    return Chunked(chunks, parts, joined, progress)


def test_joined_chunks_have_the_source_frame_count(clips_b: Clips, chunked: Chunked) -> None:
    assert len(chunked.chunks) == 4
    source_frames = int(_stream(clips_b["enc"])["nb_read_frames"])
    assert source_frames == 200
    for path in chunked.joined.values():
        assert int(_stream(path)["nb_read_frames"]) == source_frames


def test_joined_rendition_verifies(chunked: Chunked) -> None:
    for path in chunked.joined.values():
        check = verify_rendition(
            path, ffprobe=FFPROBE, expected_duration_s=8.0, expected_frames=200, gop_s=2, fps=25
        )
        assert check.ok, check.problems
        assert check.frames == 200
        assert check.keyframe_times == (0.0, 2.0, 4.0, 6.0)


def test_each_chunk_part_is_exact_and_starts_on_a_keyframe(chunked: Chunked) -> None:
    for name, parts in chunked.parts.items():
        assert [p.name for p in parts] == [f"{name}.{i:05d}.mp4" for i in range(4)]
        for chunk, part in zip(chunked.chunks, parts, strict=True):
            check = verify_rendition(
                part,
                ffprobe=FFPROBE,
                expected_duration_s=chunk.duration_s,
                expected_frames=chunk_frames(chunk, 25.0),
                gop_s=2,
                fps=25,
            )
            assert check.ok, check.problems
            assert check.keyframe_times[0] == 0.0


def test_scaled_rungs_have_square_pixels_and_no_audio(chunked: Chunked) -> None:
    low = _stream(chunked.joined["240p"])
    assert (int(low["width"]), int(low["height"])) == (426, 240)
    assert low["sample_aspect_ratio"] == "1:1"
    assert low["r_frame_rate"] == "25/1"
    info = probe(chunked.joined["240p"], ffprobe=FFPROBE)
    assert not info.has_audio


def test_progress_is_reported_up_to_done(chunked: Chunked) -> None:
    assert chunked.progress and chunked.progress[-1] == 1.0
    assert all(0.0 <= f <= 1.0 for f in chunked.progress)


@pytest.mark.parametrize(
    ("codec", "codec_name", "tag"), [("hevc", "hevc", "hvc1"), ("av1", "av1", None)]
)
def test_other_codecs(
    clips_b: Clips, tmp_path: Path, codec: str, codec_name: str, tag: str | None
) -> None:
    rung = replace(RUNGS[0], codec=codec)  # type: ignore[arg-type]
    chunk = Chunk(0, 2.0, 4.0)
    out = encode_chunk(clips_b["enc"], chunk, [rung], tmp_path, ffmpeg=FFMPEG, fps=25)
    stream = _stream(out["240p"])
    assert stream["codec_name"] == codec_name
    if tag:
        assert stream["codec_tag_string"] == tag
    check = verify_rendition(
        out["240p"], ffprobe=FFPROBE, expected_duration_s=4.0, expected_frames=100, gop_s=2, fps=25
    )
    assert check.ok, check.problems


def _qc_adaptations(src: Path) -> EncodeAdaptations:
    """The encoder fixes QC asks for, mapped as the encode activity maps them."""
    qc = run_qc(src, ffmpeg=FFMPEG, ffprobe=FFPROBE)
    assert qc.passed, qc.summary()
    return EncodeAdaptations(
        deinterlace=qc.adaptations.deinterlace, rotation=qc.adaptations.rotate_degrees
    )


def test_rotation_is_applied_like_a_player_would(clips_b: Clips, tmp_path: Path) -> None:
    src = clips_b.rotated()
    adapt = _qc_adaptations(src)
    assert adapt.rotation == 270
    rung = Rung("portrait", 180, 320, 1500, 2250, 4500)
    out = encode_chunk(
        src, Chunk(0, 0.0, 2.0), [rung], tmp_path, ffmpeg=FFMPEG, fps=25, adaptations=adapt
    )
    stream = _stream(out["portrait"])
    assert (int(stream["width"]), int(stream["height"])) == (180, 320)
    out_info = probe(out["portrait"], ffprobe=FFPROBE)
    assert out_info.video is not None and out_info.video.rotation == 0  # not turned twice
    # ffmpeg's own autorotate decode of the source is the reference picture.
    ref = tmp_path / "ref.mkv"
    subprocess.run([FFMPEG, "-v", "error", "-i", str(src), "-c:v", "ffv1", str(ref)], check=True)
    score = measure_quality(
        out["portrait"], ref, ffmpeg_vmaf=None, ffmpeg=FFMPEG, width=180, height=320
    )
    assert score.value > 30  # an unrotated / mirrored picture scores ~10 dB


def test_deinterlace_keeps_frame_count(clips_b: Clips, tmp_path: Path) -> None:
    src = clips_b["interlaced"]
    adapt = _qc_adaptations(src)
    assert adapt.deinterlace
    rung = Rung("180p", 320, 180, 500, 750, 1500)
    out = encode_chunk(
        src, Chunk(0, 0.0, 2.0), [rung], tmp_path, ffmpeg=FFMPEG, fps=25, adaptations=adapt
    )
    assert int(_stream(out["180p"])["nb_read_frames"]) == 50


def test_vfr_source_becomes_constant_frame_rate(clips_b: Clips, tmp_path: Path) -> None:
    src = clips_b["vfr"]
    info = probe(src, ffprobe=FFPROBE)
    assert info.is_vfr
    rung = Rung("180p", 320, 180, 500, 750, 1500)
    chunk = Chunk(0, 0.0, info.duration_s)
    out = encode_chunk(src, chunk, [rung], tmp_path, ffmpeg=FFMPEG, fps=25)
    stream = _stream(out["180p"])
    assert stream["avg_frame_rate"] == stream["r_frame_rate"] == "25/1"
    check = verify_rendition(
        out["180p"],
        ffprobe=FFPROBE,
        expected_duration_s=info.duration_s,
        expected_frames=chunk_frames(chunk, 25),
        gop_s=2,
        fps=25,
    )
    assert check.ok, check.problems


def test_bad_parameters_raise_named_errors(clips_b: Clips, tmp_path: Path) -> None:
    with pytest.raises(EncodeError):
        encode_chunk(clips_b["enc"], Chunk(0, 0.0, 2.0), [], tmp_path, ffmpeg=FFMPEG, fps=25)
    with pytest.raises(EncodeError):
        encode_chunk(clips_b["enc"], Chunk(0, 0.0, 2.0), RUNGS, tmp_path, ffmpeg=FFMPEG, fps=0)
    with pytest.raises(EncodeError):
        encode_chunk(
            clips_b["enc"],
            Chunk(0, 0.0, 2.0),
            [RUNGS[0], RUNGS[0]],
            tmp_path,
            ffmpeg=FFMPEG,
            fps=25,
        )
    with pytest.raises(EncodeError):
        join_chunks([], tmp_path / "x.mp4", ffmpeg=FFMPEG)


def test_failed_encode_leaves_no_files(tmp_path: Path) -> None:
    not_media = tmp_path / "in.mp4"
    not_media.write_text("not a video")
    out_dir = tmp_path / "out"
    with pytest.raises(FFmpegError):
        encode_chunk(
            not_media,
            Chunk(0, 0.0, 2.0),
            RUNGS,
            out_dir,
            ffmpeg=FFMPEG,
            fps=25,
            adaptations=EncodeAdaptations(),
        )
    assert list(out_dir.iterdir()) == []
