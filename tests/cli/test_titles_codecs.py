"""``reelflow titles ingest --codecs``: which ladders a title gets (the main one first)."""

from __future__ import annotations

from pathlib import Path

import pytest

from reelflow.cli.titles import CliError, build_input, render_status
from reelflow.lifecycle import contracts as c


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


def test_status_lists_each_codec_ladder_on_its_own_line(capsys: pytest.CaptureFixture[str]) -> None:
    def rung(h: int, kbps: int, codec: str) -> c.RungSpec:
        return c.RungSpec(f"{codec}_{h}p", h * 16 // 9, h, kbps, codec)

    status = c.TitleStatus(
        "t1", 1, "published", "live", [],
        ladder=[rung(360, 300, "h264"), rung(720, 900, "h264"), rung(480, 250, "av1")],
        ladder_metric="vmaf",
    )  # fmt: skip
    render_status(status)
    out = capsys.readouterr().out
    assert "ladder (h264): 640x360@300k, 1280x720@900k" in out
    assert "ladder (av1): 853x480@250k" in out
    assert out.count("quality metric: vmaf") == 1

    status.ladder = status.ladder[:2]
    render_status(status)
    out = capsys.readouterr().out
    assert "ladder: 640x360@300k, 1280x720@900k" in out and "(h264)" not in out
