"""``reelflow titles ingest --codecs``: which ladders a title gets (the main one first)."""

from __future__ import annotations

from pathlib import Path

import pytest

from reelflow.cli.titles import CliError, build_input


def _build(tmp_path: Path, codec: str = "h264", codecs: str | None = None) -> tuple[str, list[str]]:
    clip = tmp_path / "m.mp4"
    clip.write_bytes(b"x")
    inp = build_input(
        str(clip), "t1", "Title", "", [], None, None, "", "", [], False, "per_title", codec,
        codecs=codecs,
    )  # fmt: skip
    return inp.options.codec, inp.options.extra_codecs


def test_codecs_name_the_fallback_first_and_the_ladders_beside_it(tmp_path: Path) -> None:
    assert _build(tmp_path, codecs="h264,av1") == ("h264", ["av1"])
    assert _build(tmp_path, codecs=" av1 ") == ("av1", [])
    assert _build(tmp_path, codec="av1", codecs="av1,h264") == ("av1", ["h264"])


def test_without_codecs_a_title_has_one_ladder(tmp_path: Path) -> None:
    assert _build(tmp_path) == ("h264", [])
    assert _build(tmp_path, codec="hevc") == ("hevc", [])


def test_bad_codec_lists_are_named(tmp_path: Path) -> None:
    with pytest.raises(CliError, match="unknown codec 'vp9'"):
        _build(tmp_path, codecs="h264,vp9")
