from __future__ import annotations

import pytest

from reelflow.media.errors import SubtitleError
from reelflow.media.subtitles import (
    decode_caption_bytes,
    detect_format,
    parse_captions,
    to_webvtt,
)

SRT = """1
00:00:01,000 --> 00:00:03,500
Hello <font color="#ffff00">there</font>
{\\an8}second line

2
00:00:04,000 --> 00:00:05,000
<i>Goodbye</i>
"""

VTT = """WEBVTT - some header

NOTE a comment
that spans lines

intro
00:01.000 --> 00:03.500 line:0 align:start
Hello

00:00:04.000 --> 00:00:05.250
<b>Bye</b> &amp; thanks
"""


def test_srt_to_webvtt() -> None:
    out = to_webvtt(SRT)
    assert out == (
        "WEBVTT\n\n"
        "1\n00:00:01.000 --> 00:00:03.500\nHello there\nsecond line\n\n"
        "2\n00:00:04.000 --> 00:00:05.000\n<i>Goodbye</i>\n"
    )
    # The output is itself valid WebVTT that parses to the same cues.
    assert to_webvtt(out) == out


def test_webvtt_is_normalised() -> None:
    cues = parse_captions(VTT)
    assert [(c.identifier, c.start_s, c.end_s) for c in cues] == [
        ("intro", 1.0, 3.5),
        (None, 4.0, 5.25),
    ]
    assert cues[0].settings == "line:0 align:start"
    out = to_webvtt(VTT)
    assert out.startswith("WEBVTT\n\nintro\n00:00:01.000 --> 00:00:03.500 line:0 align:start\n")
    assert "NOTE" not in out
    assert "<b>Bye</b> &amp; thanks" in out


def test_detect_format_and_encodings() -> None:
    assert detect_format(VTT) == "vtt"
    assert detect_format(SRT) == "srt"
    crlf_bom = ("\ufeff" + SRT).replace("\n", "\r\n").encode("utf-8")
    assert to_webvtt(decode_caption_bytes(crlf_bom)) == to_webvtt(SRT)
    latin = "1\n00:00:01,000 --> 00:00:02,000\nCafé\n".encode("cp1252")
    assert "Café" in to_webvtt(decode_caption_bytes(latin))


def test_small_overlaps_are_sorted_not_rejected() -> None:
    srt = "1\n00:00:02,000 --> 00:00:04,000\nB\n\n2\n00:00:01,500 --> 00:00:03,000\nA\n"
    assert [c.text for c in parse_captions(srt)] == ["A", "B"]


def test_empty_srt_cues_are_dropped() -> None:
    srt = "1\n00:00:01,000 --> 00:00:02,000\n\n2\n00:00:03,000 --> 00:00:04,000\nText\n"
    assert [c.text for c in parse_captions(srt)] == ["Text"]


@pytest.mark.parametrize(
    ("text", "fmt", "line", "fragment"),
    [
        ("1\n00:00:01,000 -> 00:00:02,000\nHi\n", None, 2, "malformed timing"),
        ("1\n00:00:03,000 --> 00:00:02,000\nHi\n", None, 2, "before it starts"),
        ("1\n00:00:01,000 --> 00:00:01,000\nHi\n", None, 2, "before it starts"),
        (
            "1\n00:00:10,000 --> 00:00:11,000\nA\n\n2\n00:00:01,000 --> 00:00:02,000\nB\n",
            None,
            6,
            "before the previous cue",
        ),
        (
            "1\n00:00:01,000 --> 00:00:02,000\nA\n\nHello\n00:00:03,000 --> 00:00:04,000\nB\n",
            None,
            5,
            "cue number",
        ),
        (
            "1\n00:00:01,000 --> 00:00:02,000\nA\n2\n00:00:03,000 --> 00:00:04,000\nB\n",
            None,
            5,
            "-->",
        ),
        ("1\n00:00:61,000 --> 00:01:02,000\nA\n", None, 2, "below 60"),
        ("00:01.000 --> 00:02.000\nHi\n", "vtt", 1, "WEBVTT"),
        ("WEBVTT\n\nid\nnot a timing\nHi\n", None, 3, "timing line"),
        ("", None, 1, "no cues"),
    ],
)
def test_malformed_captions_name_the_line(
    text: str, fmt: str | None, line: int, fragment: str
) -> None:
    with pytest.raises(SubtitleError) as info:
        to_webvtt(text, fmt=fmt)  # type: ignore[arg-type]
    assert info.value.line == line
    assert str(info.value).startswith(f"line {line}:")
    assert fragment in str(info.value)


def test_srt_plain_characters_are_escaped_for_webvtt() -> None:
    srt = "1\n00:00:01,000 --> 00:00:02,000\nTom & Jerry <3 <i>yes</i> &amp;\n"
    cue = parse_captions(srt)[0]
    assert cue.text == "Tom &amp; Jerry &lt;3 <i>yes</i> &amp;"
