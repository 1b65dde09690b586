"""Every malformed input ends in its own named QC failure, never in an exception."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from reelflow.media.qc import run_qc
from reelflow.media.qc_report import QCCheck, QCOptions
from tests.media.conftest import ClipMaker


def _zero_bytes(clip: ClipMaker, out: Path) -> None:
    out.write_bytes(b"")


def _truncated(clip: ClipMaker, out: Path) -> None:
    # moov at the end (ffmpeg's default): cutting the file loses the index.
    data = clip("clean").read_bytes()
    out.write_bytes(data[: len(data) // 2])


def _truncated_faststart(clip: ClipMaker, out: Path) -> None:
    # moov first: the index survives and promises samples that are no longer there.
    data = clip("faststart").read_bytes()
    out.write_bytes(data[: len(data) // 2])


def _text(clip: ClipMaker, out: Path) -> None:
    out.write_text("This is a delivery note, not a movie.\n" * 20)


def _image(clip: ClipMaker, out: Path) -> None:
    out.write_bytes(clip("image").read_bytes())


def _audio_only(clip: ClipMaker, out: Path) -> None:
    out.write_bytes(clip("audio_only").read_bytes())


def _corrupt_middle(clip: ClipMaker, out: Path) -> None:
    data = bytearray(clip("video_only").read_bytes())
    middle = len(data) // 2
    data[middle : middle + 16384] = bytes((i * 97 + 13) % 256 for i in range(16384))
    out.write_bytes(bytes(data))


def _tiny(clip: ClipMaker, out: Path) -> None:
    out.write_bytes(clip("tiny").read_bytes())


def _unknown_codec_tag(clip: ClipMaker, out: Path) -> None:
    data = bytearray(clip("clean").read_bytes())
    entry = data.index(b"avc1", data.index(b"stsd"))
    data[entry : entry + 4] = b"zzzz"
    out.write_bytes(bytes(data))


CORPUS: list[tuple[str, str, Callable[[ClipMaker, Path], None], str]] = [
    ("zero_bytes", "mp4", _zero_bytes, "probe"),
    ("truncated", "mp4", _truncated, "probe"),
    ("truncated_faststart", "mp4", _truncated_faststart, "decode"),
    ("text", "mp4", _text, "probe"),
    ("image", "png", _image, "video_stream"),
    ("audio_only", "m4a", _audio_only, "video_stream"),
    ("corrupt_middle", "mp4", _corrupt_middle, "decode"),
    ("tiny_16x16", "mp4", _tiny, "resolution"),
    ("unknown_codec_tag", "mp4", _unknown_codec_tag, "codec"),
]


@pytest.mark.parametrize(
    ("label", "ext", "make", "failing_check"), CORPUS, ids=[c[0] for c in CORPUS]
)
def test_malformed_input_fails_named_check(
    tmp_path: Path,
    clip: ClipMaker,
    ffmpeg: str,
    ffprobe: str,
    label: str,
    ext: str,
    make: Callable[[ClipMaker, Path], None],
    failing_check: str,
) -> None:
    path = tmp_path / f"{label}.{ext}"
    make(clip, path)
    report = run_qc(path, ffmpeg=ffmpeg, ffprobe=ffprobe)
    assert not report.passed
    check = report.check(failing_check)
    assert check is not None, report.summary()
    assert check.status == "fail", report.summary()
    assert check.reason
    # The first failure is the named one: the report points at the real cause.
    assert report.failures[0].name == failing_check
    # The report must still serialise for the workflow's qc_failed state.
    assert report.to_dict()["passed"] is False


def test_decode_error_allowance(tmp_path: Path, clip: ClipMaker, ffmpeg: str, ffprobe: str) -> None:
    path = tmp_path / "corrupt.mp4"
    _corrupt_middle(clip, path)
    strict = run_qc(path, ffmpeg=ffmpeg, ffprobe=ffprobe)
    failed = strict.check("decode")
    assert failed is not None and isinstance(failed.value, int) and failed.value > 0
    lenient = run_qc(
        path, ffmpeg=ffmpeg, ffprobe=ffprobe, options=QCOptions(max_decode_errors=failed.value)
    )
    assert lenient.check("decode") == QCCheck(
        "decode", "pass", f"decoded 4.00 s, {failed.value} errors", 4.0
    )
