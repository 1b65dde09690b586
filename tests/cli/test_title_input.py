"""What ``reelflow titles ingest`` accepts: which ladders a title gets (``--codecs``, the main
one first), and the rules each flag is held to."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reelflow.cli.title_input import CliError, build_input
from reelflow.domain.ids import TITLE_ID_RULE
from reelflow.lifecycle import contracts as c


def _input(
    tmp_path: Path,
    *,
    title_id: str = "t1",
    codec: str = "h264",
    codecs: str | None = None,
    window: tuple[str | None, str | None] = (None, None),
    regions: str = "",
    plans: str = "",
    subtitles: tuple[str, ...] = (),
) -> c.TitleInput:
    clip = tmp_path / "m.mp4"
    clip.write_bytes(b"x")
    return build_input(
        str(clip), title_id, "Title", "", [], window[0], window[1], regions, plans,
        list(subtitles), False, "per_title", codec, codecs=codecs,
    )  # fmt: skip


def _build(tmp_path: Path, codec: str = "h264", codecs: str | None = None) -> tuple[str, list[str]]:
    inp = _input(tmp_path, codec=codec, codecs=codecs)
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


@pytest.mark.parametrize("title_id", ["Upper", "a.b", "foo@v2", "-x", "a" * 65])
def test_a_bad_title_id_is_refused_with_the_rule(tmp_path: Path, title_id: str) -> None:
    with pytest.raises(CliError, match="--id") as refused:
        _input(tmp_path, title_id=title_id)
    assert TITLE_ID_RULE in str(refused.value)


def test_window_regions_and_plans_are_checked_and_kept(tmp_path: Path) -> None:
    inp = _input(
        tmp_path,
        window=("2026-12-01T00:00:00+00:00", "2027-01-01T00:00:00+01:00"),
        regions="us, gb",
        plans="basic,premium",
    )
    assert inp.availability == c.AvailabilitySpec(
        "2026-12-01T00:00:00+00:00", "2027-01-01T00:00:00+01:00", ["US", "GB"], ["basic", "premium"]
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"window": ("2026-12-01", None)}, "no UTC offset"),
        ({"window": ("soon", None)}, "not an ISO 8601"),
        (
            {"window": ("2026-12-02T00:00:00+00:00", "2026-12-01T00:00:00+00:00")},
            "--window-end must be after",
        ),
        ({"regions": "USA"}, "alpha-2"),
        ({"plans": "gold"}, "unknown plan 'gold'"),
        ({"subtitles": ("english.srt",)}, "LANG=FILE"),
    ],
)
def test_bad_flags_are_named(tmp_path: Path, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(CliError, match=message):
        _input(tmp_path, **kwargs)


def test_subtitles_take_a_language_and_a_file(tmp_path: Path) -> None:
    srt = tmp_path / "en.srt"
    srt.write_text("1\n00:00:00,000 --> 00:00:01,000\nhi\n")
    inp = _input(tmp_path, subtitles=(f"en={srt}",))
    assert inp.subtitles == [c.SubtitleSource("en", str(srt.resolve()))]
    with pytest.raises(CliError, match="no such file"):
        _input(tmp_path, subtitles=(f"fr={tmp_path / 'missing.srt'}",))
