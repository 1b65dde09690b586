"""Ladders as plain values: rungs, measurements, a ladder, and the fixed ladder from Apple's
HLS authoring table fitted to a source, which the API shows beside a title's own.

Per-title ladders are measured and built in ``reelflow.media`` (``ladder_analysis``,
``ladder_rungs``); this module holds what every layer may read about one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from reelflow.domain.codecs import VideoCodec as Codec

# The quality metric a per-title ladder was measured with (the scales are not comparable).
QualityMetric = Literal["vmaf", "psnr"]


class InvalidLadder(ValueError):
    """A ladder cannot be built for these sizes or options."""


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


# Peak and VBV buffer relative to the average bitrate: Apple allows peaks up to 2x the
# average; 1.5x with a 2-second buffer keeps segments even without starving hard scenes.
MAXRATE_FACTOR = 1.5


BUFSIZE_FACTOR = 3.0


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
    metric: QualityMetric | None = None
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


def even_size(x: float) -> int:
    """The nearest even pixel count, at least 2 (encoders need even sizes)."""
    return max(2, round(x / 2.0) * 2)


def fit_dimensions(src_width: int, src_height: int, height: int) -> tuple[int, int]:
    """Width x height for a rung ``height`` pixels tall with the source's aspect ratio."""
    return even_size(src_width * height / src_height), even_size(height)


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
        raise InvalidLadder(f"source size must be positive, got {src_width}x{src_height}")
    specs: list[tuple[int, int, int]] = []
    for box_w, box_h, kbps in APPLE_H264_TABLE:
        f = min(box_w / src_width, box_h / src_height)
        if f <= 1.0:
            specs.append((even_size(src_width * f), even_size(src_height * f), kbps))
    if not specs:
        specs.append((even_size(src_width), even_size(src_height), APPLE_H264_TABLE[0][2]))
    return Ladder(rungs=named_rungs(specs, codec), method="fixed")
