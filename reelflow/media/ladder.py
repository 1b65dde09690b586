"""Bitrate ladders: the Apple HLS authoring table, and a per-title ladder from measurements.

The per-title analysis encodes a few short sample windows of the title at several
resolutions and quality settings, measures (bitrate, quality) for each, keeps the upper
convex hull of those points (the best quality reachable at each bitrate, whichever
resolution gives it) and places rungs along that hull. An easy title saturates early and
gets a cheap top rung; a hard one spends up to what the Apple table spends at its size,
never more. Per-title changes the bitrates, never the coverage: every ladder has a rung for
each plan's ceiling, weak devices and poor networks (reelflow.domain.plans).

This module holds the types (rungs, measurements, ladders, options), the geometry and
the Apple table; ``ladder_curves`` the hull over measurements, ``ladder_rungs`` the rung
selection (both pure, testable without ffmpeg) and ``ladder_analysis`` the measuring.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from reelflow.media.codecs import Codec
from reelflow.media.errors import MediaError
from reelflow.media.quality import Metric

LadderMethod = Literal["per_title", "fixed"]

# Apple HLS authoring specification, H.264 16:9 table (width, height, average kb/s).
APPLE_H264_TABLE: tuple[tuple[int, int, int], ...] = (
    (416, 234, 145),
    (640, 360, 365),
    (768, 432, 730),
    (768, 432, 1100),
    (960, 540, 2000),
    (1280, 720, 3000),
    (1280, 720, 4500),
    (1920, 1080, 6000),
    (1920, 1080, 7800),
)
# Heights the analysis may measure at (besides the source's own height).
STANDARD_HEIGHTS = (2160, 1440, 1080, 720, 540, 432, 360, 240)

# Peak and VBV buffer relative to the average bitrate: Apple allows peaks up to 2x the
# average; 1.5x with a 2-second buffer keeps segments even without starving hard scenes.
MAXRATE_FACTOR = 1.5
BUFSIZE_FACTOR = 3.0

# Codec-specific quality grids for the analysis encodes (CRF scales differ per encoder).
ANALYSIS_CRF: dict[str, tuple[int, ...]] = {
    "h264": (20, 26, 32, 38),
    "hevc": (22, 28, 34, 40),
    "av1": (28, 38, 48, 56),
}


class LadderError(MediaError, ValueError):
    """The ladder cannot be built: no video, bad options or no usable measurements."""


@dataclass(frozen=True)
class Rung:
    name: str
    width: int
    height: int
    bitrate_kbps: int
    maxrate_kbps: int
    bufsize_kbps: int
    codec: Codec = "h264"
    # Capped CRF (per-title rungs): quality target with maxrate/bufsize as the cap. At the
    # same average bitrate, 1-pass ABR is far worse than CRF on easy content (VMAF 81 vs
    # 97 at 88 kb/s on a 720p test card), so per-title rungs keep the analysis' CRF.
    crf: float | None = None


@dataclass(frozen=True)
class Measurement:
    """One analysis encode: resolution, quality setting, resulting bitrate and quality."""

    width: int
    height: int
    crf: int
    bitrate_kbps: float
    quality: float


@dataclass(frozen=True)
class Ladder:
    rungs: tuple[Rung, ...]
    method: LadderMethod
    metric: Metric | None = None
    measurements: tuple[Measurement, ...] = ()
    # The hull points the rungs were picked from (subset of measurements).
    hull: tuple[Measurement, ...] = ()

    @property
    def top(self) -> Rung:
        return max(self.rungs, key=lambda r: r.bitrate_kbps)

    @property
    def total_kbps(self) -> int:
        return sum(r.bitrate_kbps for r in self.rungs)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Ladder:
        return cls(
            rungs=tuple(Rung(**r) for r in data["rungs"]),
            method=data["method"],
            metric=data.get("metric"),
            measurements=tuple(Measurement(**m) for m in data.get("measurements", ())),
            hull=tuple(Measurement(**m) for m in data.get("hull", ())),
        )


@dataclass(frozen=True)
class LadderOptions:
    codec: Codec = "h264"
    max_kbps: int = 8000
    min_kbps: int = 100
    min_step: float = 1.5
    # Adjacent rungs no further apart than this (JND merging stops short of it).
    max_step: float = 3.0
    max_rungs: int = 6
    # The cheapest rung spends at most this, whatever it looks like: poor networks.
    bottom_max_kbps: int = 250
    # One just-noticeable difference per metric: rungs closer than this are merged.
    jnd: dict[str, float] = field(default_factory=lambda: {"vmaf": 6.0, "psnr": 2.0})
    # Quality where more bits stop being visible (top rung cap) and the floor for the
    # bottom rung, per metric.
    saturation: dict[str, float] = field(default_factory=lambda: {"vmaf": 95.0, "psnr": 45.0})
    min_quality: dict[str, float] = field(default_factory=lambda: {"vmaf": 40.0, "psnr": 30.0})
    sample_count: int = 3
    sample_s: float = 2.0
    # Intervals (start_s, end_s) the sample windows must avoid, e.g. QC's black head/tail.
    exclude: tuple[tuple[float, float], ...] = ()
    analysis_resolutions: int = 4
    crf_values: tuple[int, ...] | None = None  # default: ANALYSIS_CRF[codec]
    preset: str = "veryfast"
    gop_s: float = 2.0
    vmaf_subsample: int = 1

    def __post_init__(self) -> None:
        if self.min_step < 1.0:
            raise LadderError(f"min_step must be >= 1, got {self.min_step}")
        if self.max_step < self.min_step:
            raise LadderError(f"max_step must be >= min_step, got {self.max_step}")
        if not 0 < self.min_kbps <= self.max_kbps:
            raise LadderError(f"need 0 < min_kbps <= max_kbps, got {self.min_kbps}/{self.max_kbps}")
        if self.max_rungs < 1 or self.sample_count < 1 or self.sample_s <= 0:
            raise LadderError("max_rungs, sample_count and sample_s must be positive")


# ---- geometry -------------------------------------------------------------------------


def even_size(x: float) -> int:
    """The nearest even pixel count, at least 2 (encoders need even sizes)."""
    return max(2, round(x / 2.0) * 2)


def fit_dimensions(src_width: int, src_height: int, height: int) -> tuple[int, int]:
    """Width x height for a rung ``height`` pixels tall with the source's aspect ratio."""
    return even_size(src_width * height / src_height), even_size(height)


def analysis_resolutions(src_width: int, src_height: int, count: int) -> list[tuple[int, int]]:
    """Up to ``count`` sizes from the source's own down, each >= 1.4x smaller in height."""
    if src_width <= 0 or src_height <= 0:
        raise LadderError(f"source size must be positive, got {src_width}x{src_height}")
    heights = [src_height]
    for h in STANDARD_HEIGHTS:
        if len(heights) >= count:
            break
        if h * 1.4 <= heights[-1]:
            heights.append(h)
    return [fit_dimensions(src_width, src_height, h) for h in heights]


def _rung_name(height: int, kbps: int, duplicate: bool, codec: Codec) -> str:
    """``720p`` (``720p_2500k`` when two share a height); other codecs than H.264 lead with
    theirs (``av1_720p``), so ladders of two codecs in one title never share a name."""
    name = f"{height}p_{kbps}k" if duplicate else f"{height}p"
    return name if codec == "h264" else f"{codec}_{name}"


def named_rungs(
    specs: list[tuple[int, int, int]], codec: Codec, crfs: Sequence[float | None] | None = None
) -> tuple[Rung, ...]:
    """Rungs from (width, height, kbps) (+ CRF each), lowest bitrate first, names unique."""
    crf_list = list(crfs) if crfs is not None else [None] * len(specs)
    order = sorted(range(len(specs)), key=lambda i: specs[i][2])
    heights = [s[1] for s in specs]
    rungs = []
    for i in order:
        w, h, kbps = specs[i]
        rungs.append(
            Rung(
                name=_rung_name(h, kbps, heights.count(h) > 1, codec),
                width=w,
                height=h,
                bitrate_kbps=kbps,
                maxrate_kbps=round(kbps * MAXRATE_FACTOR),
                bufsize_kbps=round(kbps * BUFSIZE_FACTOR),
                codec=codec,
                crf=crf_list[i],
            )
        )
    return tuple(rungs)


def apple_fixed_ladder(src_width: int, src_height: int, *, codec: Codec = "h264") -> Ladder:
    """Apple's H.264 table fitted to the source aspect ratio, never above its resolution.

    Each table box is fitted to the source shape (a 2.39:1 film keeps its width and gets
    shorter rungs); boxes larger than the source are dropped. A source smaller than every
    box gets one rung at its own size and the table's lowest bitrate.
    """
    if src_width <= 0 or src_height <= 0:
        raise LadderError(f"source size must be positive, got {src_width}x{src_height}")
    specs: list[tuple[int, int, int]] = []
    for box_w, box_h, kbps in APPLE_H264_TABLE:
        f = min(box_w / src_width, box_h / src_height)
        if f <= 1.0:
            specs.append((even_size(src_width * f), even_size(src_height * f), kbps))
    if not specs:
        specs.append((even_size(src_width), even_size(src_height), APPLE_H264_TABLE[0][2]))
    return Ladder(rungs=named_rungs(specs, codec), method="fixed")
