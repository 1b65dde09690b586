"""Trick-play sprites with a WebVTT thumbnails track, and poster / backdrop artwork.

One ffmpeg call extracts the sprite frames (fps filter), Pillow tiles them. Artwork comes
from a second call that samples candidate frames with signalstats, so the pick avoids
black, washed-out and fading frames without decoding the title twice per candidate.
"""

from __future__ import annotations

import math
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from PIL import Image

from reelflow.domain.artwork import MAX_ARTWORK_CANDIDATES, candidate_file_name
from reelflow.media.errors import MediaError
from reelflow.media.ffmpeg_run import run_ffmpeg
from reelflow.media.probe import MASTER_INPUT_OPTIONS
from reelflow.media.subtitles import format_timestamp

DEFAULT_INTERVAL_S = 2.0
# Titles up to this long get DEFAULT_INTERVAL_S; longer ones a wider interval so that
# the sprites stay within MAX_SHEETS sheets (bounded download for the player).
LONG_TITLE_S = 600.0
MAX_SHEETS = 8
JPEG_QUALITY = 80
POSTER_SIZES = ((600, 900), (300, 450))  # 2:3
BACKDROP_SIZES = ((1280, 720), (640, 360))  # 16:9
ARTWORK_CANDIDATES = 24
# Alternates (for the per-viewer artwork bandit) are at least this share of the title apart
# from every frame kept before them, so they show different scenes, not the same shot twice.
ALTERNATE_MIN_GAP = 1 / 8
# Above this duration candidates are picked from keyframes only (fast seek-free decode).
KEYFRAME_ONLY_ABOVE_S = 300.0


@dataclass(frozen=True)
class ThumbnailSet:
    vtt: Path
    sprites: tuple[Path, ...]
    interval_s: float
    tile_width: int
    tile_height: int
    columns: int
    rows: int
    count: int  # thumbnails (= cues) in the track


@dataclass(frozen=True)
class ArtworkCandidate:
    posters: tuple[Path, ...]  # largest first
    backdrops: tuple[Path, ...]
    timestamp_s: float


@dataclass(frozen=True)
class Artwork:
    posters: tuple[Path, ...]  # largest first
    backdrops: tuple[Path, ...]
    timestamp_s: float
    score: float
    # Candidates 1.. (files named by domain.artwork.candidate_file_name), best first; empty
    # when no other frame is both good and a different scene.
    alternates: tuple[ArtworkCandidate, ...] = ()


def default_interval(duration_s: float, tiles_per_sheet: int = 100) -> float:
    if duration_s <= LONG_TITLE_S:
        return DEFAULT_INTERVAL_S
    needed = duration_s / (MAX_SHEETS * tiles_per_sheet)
    return float(max(DEFAULT_INTERVAL_S, math.ceil(needed)))


def _fps_expr(interval_s: float) -> str:
    frac = Fraction(1 / interval_s).limit_denominator(1000)
    return f"{frac.numerator}/{frac.denominator}"


def make_thumbnails(
    video: Path,
    out_dir: Path,
    *,
    ffmpeg: str,
    duration_s: float,
    interval_s: float | None = None,
    tile_width: int = 160,
    columns: int = 10,
    rows: int = 10,
    on_progress: Callable[[float], None] | None = None,
) -> ThumbnailSet:
    """Write ``sprite_<n>.jpg`` sheets and ``thumbnails.vtt`` into ``out_dir``."""
    if duration_s <= 0:
        raise MediaError("thumbnails need a positive duration")
    interval = interval_s or default_interval(duration_s, columns * rows)
    out_dir.mkdir(parents=True, exist_ok=True)
    frames_dir = out_dir / ".frames"
    shutil.rmtree(frames_dir, ignore_errors=True)
    frames_dir.mkdir()
    try:
        # Height from the display aspect ratio so anamorphic sources are not squashed.
        vf = (
            f"fps={_fps_expr(interval)},"
            f"scale=w={tile_width}:h='max(2,trunc({tile_width}/dar/2)*2)',setsar=1"
        )
        args = _first_picture_stream(video, vf)
        args += ["-fps_mode", "passthrough", "-q:v", "3", str(frames_dir / "%05d.jpg")]
        run_ffmpeg(args, ffmpeg=ffmpeg, duration_s=duration_s, on_progress=on_progress)
        frames = sorted(frames_dir.glob("*.jpg"))
        # The fps filter may emit a frame at exactly the end; it would have no cue time.
        frames = [f for i, f in enumerate(frames) if i * interval < duration_s]
        if not frames:
            raise MediaError(f"{video}: no frames could be extracted for thumbnails")
        with Image.open(frames[0]) as first:
            tile_w, tile_h = first.size
        sprites = _tile(frames, out_dir, tile_w, tile_h, columns, rows)
    finally:
        shutil.rmtree(frames_dir, ignore_errors=True)
    vtt = out_dir / "thumbnails.vtt"
    vtt.write_text(
        _thumbnail_vtt(len(frames), interval, duration_s, sprites, tile_w, tile_h, columns, rows)
    )
    return ThumbnailSet(vtt, sprites, interval, tile_w, tile_h, columns, rows, len(frames))


def _tile(
    frames: list[Path], out_dir: Path, tile_w: int, tile_h: int, columns: int, rows: int
) -> tuple[Path, ...]:
    per_sheet = columns * rows
    sprites: list[Path] = []
    for sheet_no, first in enumerate(range(0, len(frames), per_sheet), start=1):
        chunk = frames[first : first + per_sheet]
        used_cols = min(columns, len(chunk))
        used_rows = math.ceil(len(chunk) / columns)
        sheet = Image.new("RGB", (used_cols * tile_w, used_rows * tile_h))
        for i, frame in enumerate(chunk):
            with Image.open(frame) as img:
                tile = img.convert("RGB")
                if tile.size != (tile_w, tile_h):
                    tile = tile.resize((tile_w, tile_h))
                sheet.paste(tile, ((i % columns) * tile_w, (i // columns) * tile_h))
        path = out_dir / f"sprite_{sheet_no}.jpg"
        sheet.save(path, "JPEG", quality=JPEG_QUALITY, optimize=True)
        sprites.append(path)
    return tuple(sprites)


def _thumbnail_vtt(
    count: int,
    interval: float,
    duration_s: float,
    sprites: tuple[Path, ...],
    tile_w: int,
    tile_h: int,
    columns: int,
    rows: int,
) -> str:
    per_sheet = columns * rows
    lines = ["WEBVTT", ""]
    for i in range(count):
        start = i * interval
        end = min((i + 1) * interval, duration_s)
        sheet, pos = divmod(i, per_sheet)
        x, y = (pos % columns) * tile_w, (pos // columns) * tile_h
        lines.append(f"{format_timestamp(start)} --> {format_timestamp(end)}")
        lines.append(f"{sprites[sheet].name}#xywh={x},{y},{tile_w},{tile_h}")
        lines.append("")
    return "\n".join(lines)


# ---- artwork ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Candidate:
    index: int
    time_s: float
    yavg: float
    ylow: float
    yhigh: float
    satavg: float


_FRAME_LINE = re.compile(r"frame:(\d+)\s+pts:\S+\s+pts_time:(\S+)")
_STAT_LINE = re.compile(r"lavfi\.signalstats\.(YAVG|YLOW|YHIGH|SATAVG)=([\d.]+)")


def make_artwork(video: Path, out_dir: Path, *, ffmpeg: str, duration_s: float) -> Artwork:
    """Pick representative frames (not black, not a fade) and write poster and backdrop of
    the best one, plus up to two alternates from other scenes (``c<n>_`` file names)."""
    if duration_s <= 0:
        raise MediaError("artwork needs a positive duration")
    out_dir.mkdir(parents=True, exist_ok=True)
    cand_dir = out_dir / ".candidates"
    shutil.rmtree(cand_dir, ignore_errors=True)
    cand_dir.mkdir()
    try:
        candidates = _sample_candidates(video, cand_dir, ffmpeg=ffmpeg, duration_s=duration_s)
        if not candidates:
            raise MediaError(f"{video}: no frames could be decoded for artwork")
        ranked = _ranked(candidates, duration_s)
        kept = [_write_candidate(cand_dir, c, out_dir, n) for n, (c, _) in enumerate(ranked)]
    finally:
        shutil.rmtree(cand_dir, ignore_errors=True)
    best = kept[0]
    return Artwork(best.posters, best.backdrops, best.timestamp_s, ranked[0][1], tuple(kept[1:]))


def _write_candidate(cand_dir: Path, c: _Candidate, out_dir: Path, n: int) -> ArtworkCandidate:
    with Image.open(cand_dir / f"{c.index + 1:04d}.jpg") as img:
        frame = img.convert("RGB")

    def name(kind: str, size: tuple[int, int]) -> Path:
        return out_dir / candidate_file_name(n, f"{kind}_{size[0]}x{size[1]}.jpg")

    posters = tuple(_save_crop(frame, size, name("poster", size)) for size in POSTER_SIZES)
    backdrops = tuple(_save_crop(frame, size, name("backdrop", size)) for size in BACKDROP_SIZES)
    return ArtworkCandidate(posters, backdrops, c.time_s)


def _first_picture_stream(video: Path, vf: str) -> list[str]:
    """Input options for the master's first picture stream (no attached cover art) through
    ``vf``: the thumbnails and the artwork read the same stream the same way."""
    return [
        *MASTER_INPUT_OPTIONS,
        "-i",
        str(video),
        "-map",
        "0:V:0",
        "-an",
        "-sn",
        "-dn",
        "-vf",
        vf,
    ]


def _sample_candidates(
    video: Path, cand_dir: Path, *, ffmpeg: str, duration_s: float
) -> list[_Candidate]:
    step = duration_s / (ARTWORK_CANDIDATES + 1)
    # select keeps real frames with their own timestamps (the fps filter would duplicate).
    select = f"select='isnan(prev_selected_t)+gte(t-prev_selected_t\\,{step:.3f})'"
    vf = (
        f"{select},scale=w=-2:h='min(ih\\,1080)',setsar=1,format=yuv420p,"
        "signalstats,metadata=mode=print"
    )
    args = ["-loglevel", "info"]
    if duration_s > KEYFRAME_ONLY_ABOVE_S:
        args += ["-skip_frame", "nokey"]
    args += _first_picture_stream(video, vf)
    args += ["-fps_mode", "passthrough", "-q:v", "2", str(cand_dir / "%04d.jpg")]
    stderr = run_ffmpeg(args, ffmpeg=ffmpeg, duration_s=duration_s)
    return _parse_candidates(stderr)


def _parse_candidates(stderr: str) -> list[_Candidate]:
    out: list[_Candidate] = []
    current: dict[str, float] = {}
    index, time_s = -1, 0.0

    def flush() -> None:
        if index >= 0 and {"YAVG", "YLOW", "YHIGH", "SATAVG"} <= current.keys():
            out.append(
                _Candidate(
                    index,
                    time_s,
                    current["YAVG"],
                    current["YLOW"],
                    current["YHIGH"],
                    current["SATAVG"],
                )
            )

    for line in stderr.splitlines():
        if m := _FRAME_LINE.search(line):
            flush()
            index, current = int(m.group(1)), {}
            try:
                time_s = float(m.group(2))
            except ValueError:
                time_s = 0.0
        elif m := _STAT_LINE.search(line):
            current[m.group(1)] = float(m.group(2))
    flush()
    return out


def _ranked(candidates: list[_Candidate], duration_s: float) -> list[tuple[_Candidate, float]]:
    """The best frame, then up to two good alternates from other scenes, best first.

    Score: contrast and colour, minus a penalty for brightness changing fast. A fade shows
    up as a frame whose brightness sits between its neighbours'; a black or white frame as
    extreme YAVG or no contrast. The best frame is kept whatever its score (something must
    be the poster); an alternate only if it is not penalised and is far enough in time from
    every frame kept before it.
    """
    scored: list[tuple[float, _Candidate]] = []
    for i, c in enumerate(candidates):
        neighbours = [candidates[j].yavg for j in (i - 1, i + 1) if 0 <= j < len(candidates)]
        drift = abs(c.yavg - sum(neighbours) / len(neighbours)) if neighbours else 0.0
        contrast = c.yhigh - c.ylow
        score = contrast + 0.5 * c.satavg - 2.0 * drift
        if c.yavg < 40 or c.yavg > 230 or contrast < 20:
            score -= 1000.0  # black, blown out or flat: only if nothing else exists
        # Credits and logos live at the edges of a title.
        if not 0.05 * duration_s <= c.time_s <= 0.95 * duration_s:
            score -= 50.0
        scored.append((score, c))
    # Stable on ties: the earlier frame wins, as max() picked before alternates existed.
    order = sorted(range(len(scored)), key=lambda i: (-scored[i][0], i))
    kept = [(scored[order[0]][1], scored[order[0]][0])]
    gap = ALTERNATE_MIN_GAP * duration_s
    for i in order[1:]:
        if len(kept) == MAX_ARTWORK_CANDIDATES:
            break
        score, c = scored[i]
        inside = 0.05 * duration_s <= c.time_s <= 0.95 * duration_s
        if score >= 0 and inside and all(abs(c.time_s - k.time_s) >= gap for k, _ in kept):
            kept.append((c, score))
    return kept


def _save_crop(frame: Image.Image, size: tuple[int, int], path: Path) -> Path:
    """Centre-crop to the target aspect ratio, then resize."""
    target_w, target_h = size
    w, h = frame.size
    if w * target_h > h * target_w:  # too wide: crop the sides
        crop_w = round(h * target_w / target_h)
        left = (w - crop_w) // 2
        box = (left, 0, left + crop_w, h)
    else:
        crop_h = round(w * target_h / target_w)
        top = (h - crop_h) // 2
        box = (0, top, w, top + crop_h)
    frame.crop(box).resize(size, Image.Resampling.LANCZOS).save(
        path, "JPEG", quality=JPEG_QUALITY, optimize=True
    )
    return path
