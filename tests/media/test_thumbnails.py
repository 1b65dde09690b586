from __future__ import annotations

import re
from pathlib import Path

import pytest
from PIL import Image, ImageStat

from reelflow.media.subtitles import parse_captions
from reelflow.media.thumbnails import default_interval, make_artwork, make_thumbnails
from tests.media.conftest import ClipMaker

_XYWH = re.compile(r"^(sprite_\d+\.jpg)#xywh=(\d+),(\d+),(\d+),(\d+)$")


def _check_track(out: Path, expected_cues: int, duration_s: float) -> list[str]:
    cues = parse_captions((out / "thumbnails.vtt").read_text(), fmt="vtt")
    assert len(cues) == expected_cues
    assert cues[0].start_s == 0.0
    assert cues[-1].end_s == pytest.approx(duration_s, abs=0.05)
    sheets: list[str] = []
    for cue in cues:
        m = _XYWH.match(cue.text)
        assert m, cue.text
        name, x, y, w, h = m.group(1), *map(int, m.groups()[1:])
        with Image.open(out / name) as sheet:
            sw, sh = sheet.size
        assert x >= 0 and y >= 0 and x + w <= sw and y + h <= sh, (cue.text, sheet.size)
        sheets.append(name)
    return sheets


def test_sprites_and_vtt_default_interval(clip: ClipMaker, ffmpeg: str, tmp_path: Path) -> None:
    thumbs = make_thumbnails(clip("long_gop"), tmp_path, ffmpeg=ffmpeg, duration_s=10.0)
    assert thumbs.interval_s == 2.0
    assert thumbs.count == 5
    # 320x240 source at 160 px width keeps 4:3.
    assert (thumbs.tile_width, thumbs.tile_height) == (160, 120)
    assert [p.name for p in thumbs.sprites] == ["sprite_1.jpg"]
    assert _check_track(tmp_path, 5, 10.0) == ["sprite_1.jpg"] * 5
    assert not (tmp_path / ".frames").exists()


def test_multiple_sheets(clip: ClipMaker, ffmpeg: str, tmp_path: Path) -> None:
    thumbs = make_thumbnails(
        clip("clean"), tmp_path, ffmpeg=ffmpeg, duration_s=4.0, interval_s=0.5, columns=3, rows=2
    )
    assert thumbs.count == 8
    assert len(thumbs.sprites) == 2
    sheets = _check_track(tmp_path, 8, 4.0)
    assert sheets == ["sprite_1.jpg"] * 6 + ["sprite_2.jpg"] * 2
    with Image.open(thumbs.sprites[0]) as first, Image.open(thumbs.sprites[1]) as second:
        assert first.size == (3 * 160, 2 * 120)
        assert second.size == (2 * 160, 1 * 120)


def test_interval_grows_for_long_titles() -> None:
    assert default_interval(300.0) == 2.0
    assert default_interval(599.0) == 2.0
    two_hours = 2 * 3600.0
    interval = default_interval(two_hours)
    assert interval > 2.0
    assert two_hours / interval <= 8 * 100  # at most 8 sheets of 10x10


def test_artwork_avoids_black_head(clip: ClipMaker, ffmpeg: str, tmp_path: Path) -> None:
    art = make_artwork(clip("black_edges"), tmp_path, ffmpeg=ffmpeg, duration_s=6.0)
    # The clip is black for 0-2 s and 5-6 s.
    assert 2.0 <= art.timestamp_s < 5.0
    sizes = []
    for path in (*art.posters, *art.backdrops):
        with Image.open(path) as img:
            sizes.append(img.size)
            assert ImageStat.Stat(img.convert("L")).mean[0] > 40, path
    assert sizes == [(600, 900), (300, 450), (1280, 720), (640, 360)]
    assert not (tmp_path / ".candidates").exists()
    # Alternates for the artwork bandit: other scenes (apart in time), none black, the
    # same sizes under c<n>_ names.
    assert 1 <= len(art.alternates) <= 2
    times = [art.timestamp_s, *(alt.timestamp_s for alt in art.alternates)]
    for n, alt in enumerate(art.alternates, start=1):
        assert 2.0 <= alt.timestamp_s < 5.0
        assert all(abs(alt.timestamp_s - t) >= 6.0 / 8 for t in times[:n])
        names = [p.name for p in (*alt.posters, *alt.backdrops)]
        assert names == [f"c{n}_{p.name}" for p in (*art.posters, *art.backdrops)]
        for path in alt.posters:
            with Image.open(path) as img:
                assert ImageStat.Stat(img.convert("L")).mean[0] > 40, path
