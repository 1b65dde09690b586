"""Per-title bitrate ladders from measurements: the options and the sizes analysed.

The per-title analysis encodes a few short sample windows of the title at several
resolutions and quality settings, measures (bitrate, quality) for each, keeps the upper
convex hull of those points (the best quality reachable at each bitrate, whichever
resolution gives it) and places rungs along that hull. An easy title saturates early and
gets a cheap top rung; a hard one spends up to what the Apple table spends at its size,
never more. Per-title changes the bitrates, never the coverage: every ladder has a rung for
each plan's ceiling, weak devices and poor networks (reelflow.domain.plans).

The ladder types and the fixed (Apple) ladder are ``reelflow.domain.ladders``; this module
holds the options and the analysis sizes, ``ladder_curves`` the hull over measurements,
``ladder_rungs`` the rung selection (both pure, testable without ffmpeg) and
``ladder_analysis`` the measuring.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from reelflow.domain.ladders import InvalidLadder, fit_dimensions
from reelflow.media.codecs import Codec
from reelflow.media.errors import MediaError

# Heights the analysis may measure at (besides the source's own height).
STANDARD_HEIGHTS = (2160, 1440, 1080, 720, 540, 432, 360, 240)


# Codec-specific quality grids for the analysis encodes (CRF scales differ per encoder).
ANALYSIS_CRF: dict[str, tuple[int, ...]] = {
    "h264": (20, 26, 32, 38),
    "hevc": (22, 28, 34, 40),
    "av1": (28, 38, 48, 56),
}


class LadderError(MediaError, InvalidLadder):
    """The ladder cannot be built: no video, bad options or no usable measurements."""


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
