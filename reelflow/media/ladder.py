"""Bitrate ladders: the Apple HLS authoring table, and a per-title ladder from measurements.

The per-title analysis encodes a few short sample windows of the title at several
resolutions and quality settings, measures (bitrate, quality) for each, keeps the upper
convex hull of those points (the best quality reachable at each bitrate, whichever
resolution gives it) and places rungs along that hull. An easy title saturates early and
gets a cheap top rung; a hard one spends up to what the Apple table spends at its size,
never more. Per-title changes the bitrates, never the coverage: every ladder has a rung for
each plan's ceiling, weak devices and poor networks (reelflow.domain.plans).

The hull and rung selection are pure functions over points, testable without ffmpeg.
"""

from __future__ import annotations

import itertools
import math
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from reelflow.domain.plans import MIN_RUNGS, coverage_ceilings, coverage_problems, is_tiny
from reelflow.media.codecs import Codec, encoder_args, gop_args
from reelflow.media.errors import MediaError
from reelflow.media.ffmpeg_run import run_ffmpeg
from reelflow.media.probe import MASTER_INPUT_OPTIONS, MediaInfo
from reelflow.media.quality import Metric, measure_quality

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


def _even(x: float) -> int:
    return max(2, round(x / 2.0) * 2)


def fit_dimensions(src_width: int, src_height: int, height: int) -> tuple[int, int]:
    """Width x height for a rung ``height`` pixels tall with the source's aspect ratio."""
    return _even(src_width * height / src_height), _even(height)


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


def _named_rungs(
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
            specs.append((_even(src_width * f), _even(src_height * f), kbps))
    if not specs:
        specs.append((_even(src_width), _even(src_height), APPLE_H264_TABLE[0][2]))
    return Ladder(rungs=_named_rungs(specs, codec), method="fixed")


# ---- convex hull and rung selection (pure) ------------------------------------------


def convex_hull(points: Sequence[Measurement]) -> list[Measurement]:
    """Upper convex hull of (log bitrate, quality), lowest bitrate first.

    Points that are not Pareto-optimal (another point has >= quality for <= bits) are
    dropped first; the hull is then concave, so quality per extra bit only falls along it.
    Log bitrate is the axis because ladders are geometric in bitrate.
    """
    pts = sorted(
        (p for p in points if p.bitrate_kbps > 0 and math.isfinite(p.quality)),
        key=lambda p: (p.bitrate_kbps, -p.quality),
    )
    pareto: list[Measurement] = []
    for p in pts:
        if not pareto or p.quality > pareto[-1].quality:
            pareto.append(p)
    hull: list[Measurement] = []
    for p in pareto:
        while len(hull) >= 2 and _cross(hull[-2], hull[-1], p) >= 0:
            hull.pop()
        hull.append(p)
    return hull


def _cross(o: Measurement, a: Measurement, b: Measurement) -> float:
    ox, ax, bx = (math.log2(m.bitrate_kbps) for m in (o, a, b))
    return (ax - ox) * (b.quality - o.quality) - (a.quality - o.quality) * (bx - ox)


def bitrate_for_quality(hull: Sequence[Measurement], quality: float) -> float | None:
    """Lowest bitrate on the hull reaching ``quality``; None if the hull never does."""
    if not hull or hull[-1].quality < quality:
        return None
    if hull[0].quality >= quality:
        return hull[0].bitrate_kbps
    for a, b in itertools.pairwise(hull):
        if b.quality >= quality:
            t = (quality - a.quality) / (b.quality - a.quality)
            return a.bitrate_kbps * (b.bitrate_kbps / a.bitrate_kbps) ** t
    return None  # pragma: no cover - unreachable: hull[-1] reaches quality


def crf_for_bitrate(measurements: Sequence[Measurement], height: int, kbps: float) -> float | None:
    """CRF expected to give ``kbps`` at ``height`` (log-bitrate interpolation, clamped to
    the measured CRF range); None without measurements at that height."""
    pts = sorted((m for m in measurements if m.height == height), key=lambda m: m.bitrate_kbps)
    if not pts:
        return None
    if kbps <= pts[0].bitrate_kbps:
        return float(pts[0].crf)
    for a, b in itertools.pairwise(pts):
        if kbps <= b.bitrate_kbps and b.bitrate_kbps > a.bitrate_kbps:
            t = math.log(kbps / a.bitrate_kbps) / math.log(b.bitrate_kbps / a.bitrate_kbps)
            return round(a.crf + t * (b.crf - a.crf), 1)
    return float(pts[-1].crf)


def apple_cap_kbps(width: int, height: int) -> float:
    """What the Apple table spends at most on a ``width`` x ``height`` rung.

    The rung is placed in the 16:9 box it fills (a 1920x804 scope rung is a 1080 box, as in
    ``apple_fixed_ladder``); between table heights the rate is interpolated log-log, above
    1080 extrapolated on the 720->1080 slope, below the smallest box it is the table's
    lowest rate (what the fixed ladder gives a tiny source).
    """
    box = max(height, width * 9 / 16)
    tops: dict[int, int] = {}
    for _, h, kbps in APPLE_H264_TABLE:
        tops[h] = max(tops.get(h, 0), kbps)
    pts = sorted(tops.items())
    if box <= pts[0][0]:
        return float(pts[0][1])
    for (h0, k0), (h1, k1) in itertools.pairwise(pts):
        if box <= h1:
            t = math.log(box / h0) / math.log(h1 / h0)
            return k0 * (k1 / k0) ** t
    (h0, k0), (h1, k1) = pts[-2], pts[-1]
    return k1 * (box / h1) ** (math.log(k1 / k0) / math.log(h1 / h0))


def quality_at(points: Sequence[Measurement], kbps: float) -> float | None:
    """Quality the points' hull gives at ``kbps`` (log-bitrate interpolation; clamped above
    the measured range, extrapolated on the first segment below it, since a coarse analysis
    often measures nothing as cheap as the bottom rungs); None without points."""
    hull = convex_hull(points)
    if not hull:
        return None
    if kbps <= hull[0].bitrate_kbps:
        if len(hull) < 2:
            return hull[0].quality
        a, b = hull[0], hull[1]
        slope = (b.quality - a.quality) / math.log(b.bitrate_kbps / a.bitrate_kbps)
        return max(0.0, a.quality - slope * math.log(a.bitrate_kbps / kbps))
    for a, b in itertools.pairwise(hull):
        if kbps <= b.bitrate_kbps:
            t = math.log(kbps / a.bitrate_kbps) / math.log(b.bitrate_kbps / a.bitrate_kbps)
            return a.quality + t * (b.quality - a.quality)
    return hull[-1].quality


@dataclass
class _Candidate:
    height: int
    kbps: float
    quality: float


def select_rungs(
    hull: Sequence[Measurement],
    *,
    metric: Metric,
    options: LadderOptions,
    src_width: int,
    src_height: int,
    measurements: Sequence[Measurement] = (),
) -> tuple[Rung, ...]:
    """Place rungs along the hull, then make sure every viewer has one.

    Bitrates (the per-title part):
    - Top: where quality saturates, else the best measured point, and never above what the
      fixed ladder spends on its top rung for this source (``apple_cap_kbps``) nor
      ``max_kbps``. Content that never saturates (noise) stops at that cap. Where the fixed
      ladder's top rung reaches VMAF 93, the hull (the best of capped-CRF encodes at every
      measured size, which beat ABR at equal bits) reaches at least that at the same
      bitrate, so a top rung at min(saturation 95, cap) reaches it too.
    - Bottom: where the hull crosses the quality floor, kept between ``min_kbps`` and
      ``bottom_max_kbps`` (a poor network needs a cheap rung whatever it looks like).
    - Between: equal bitrate ratios of at least ``min_step``, at most ``max_rungs``; each
      rung takes the resolution of the nearest hull point (never decreasing, never above
      the source), or a taller one (measured or a usual ladder height, CRF interpolated
      between the measured sizes around it) if the Apple table spends less than the rung
      at that size: no rung spends more than the fixed ladder would on its size.
    - Rungs less than one JND (``jnd``: 6 VMAF) or ``min_step`` from a kept neighbour are
      dropped: two rungs a viewer cannot tell apart only cost storage and switches; unless
      dropping one leaves adjacent rungs more than ``max_step`` apart in bitrate.

    Coverage (``reelflow.domain.plans``, the same heights entitlements use), added below
    the lowest rung: one rung at or below each plan's ceiling and the weak-device height,
    and at least ``MIN_RUNGS`` unless the source is tiny. An added rung sits at the tallest
    measured size under its ceiling, at the bitrate where that size reaches the quality of
    the rung above (or saturates), at most the rung above / ``min_step`` and the Apple cap.
    """
    if not hull:
        raise LadderError("no measurements to build a ladder from")
    points = list(measurements or hull)
    measured_heights = sorted({m.height for m in points if m.height <= src_height})

    def size(height: int) -> tuple[int, int]:
        w, h = fit_dimensions(src_width, src_height, height)
        return min(w, _even(src_width)), h

    def cap(height: int) -> float:
        return min(float(options.max_kbps), apple_cap_kbps(*size(height)))

    def between(height: int, at: Callable[[int], float | None]) -> float | None:
        """``at(height)``, or for an unmeasured size interpolated (log height) between the
        measured sizes around it, or the nearest one."""
        value = at(height)
        if value is not None:
            return value
        lower = [h for h in measured_heights if h < height]
        upper = [h for h in measured_heights if h > height]
        lo = at(max(lower)) if lower else None
        hi = at(min(upper)) if upper else None
        if lo is None or hi is None:
            return lo if hi is None else hi
        t = math.log(height / max(lower)) / math.log(min(upper) / max(lower))
        return lo + t * (hi - lo)

    def quality(height: int, kbps: float) -> float:
        # The hull is the best any size gets at a bitrate: a bound for every size's curve
        # (whose clamped ends would otherwise over-state it below its measured range).
        best = quality_at(hull, kbps) or 0.0
        own = between(height, lambda h: quality_at([m for m in points if m.height == h], kbps))
        return best if own is None else min(own, best)

    def crf(height: int, kbps: float) -> float | None:
        value = between(height, lambda h: crf_for_bitrate(points, h, kbps))
        return None if value is None else round(value, 1)

    # Sizes a rung may move up to: measured ones and the usual ladder heights.
    lift_heights = sorted(
        {*measured_heights, *(h for h in STANDARD_HEIGHTS if h < src_height), src_height}
    )

    sat_q = options.saturation[metric]
    sat = bitrate_for_quality(hull, sat_q)
    top = sat if sat is not None else hull[-1].bitrate_kbps
    top = min(max(top, float(options.min_kbps)), cap(src_height))
    floor_q = options.min_quality[metric]
    crossing = bitrate_for_quality(hull, floor_q) if hull[0].quality < floor_q else None
    bottom = crossing if crossing is not None else float(options.min_kbps)
    bottom = min(max(bottom, float(options.min_kbps)), float(options.bottom_max_kbps), top)

    ratio = top / bottom
    if ratio < options.min_step or options.max_rungs == 1:
        targets = [top]
    else:
        n = min(options.max_rungs, math.floor(math.log(ratio) / math.log(options.min_step)) + 1)
        step = ratio ** (1.0 / (n - 1))
        targets = [bottom * step**i for i in range(n)]

    cands: list[_Candidate] = []
    best_height = 0
    for kbps in targets:
        nearest = min(hull, key=lambda m: abs(math.log(m.bitrate_kbps / kbps)))
        height = max(best_height, min(nearest.height, src_height))
        # A rung keeps its bits and moves up to a size the Apple table spends them on.
        taller = [h for h in lift_heights if h >= height and cap(h) >= kbps - 0.5]
        height = min(taller) if taller else src_height
        kbps = min(kbps, cap(height))
        best_height = height
        cands.append(_Candidate(height, kbps, quality(height, kbps)))

    jnd = options.jnd[metric]
    kept = [cands[-1]]
    for i in range(len(cands) - 2, -1, -1):
        cand, last = cands[i], kept[-1]
        spaced = last.kbps / cand.kbps >= options.min_step - 1e-9
        distinct = last.quality - cand.quality >= jnd
        # ...but never a gap a player cannot bridge: keep it if dropping it would leave
        # more than max_step to the next candidate down.
        gap = i > 0 and last.kbps / cands[i - 1].kbps > options.max_step
        if spaced and (distinct or gap):
            kept.append(cand)
    if kept[-1] is not cands[0] and kept[-1].kbps > options.bottom_max_kbps:
        # The cheap rung stays; it replaces the lowest kept one above it, if that leaves
        # no gap wider than max_step.
        if len(kept) > 1 and kept[-2].kbps / cands[0].kbps <= options.max_step:
            kept[-1] = cands[0]
        else:
            kept.append(cands[0])
    kept.reverse()

    def add_below(height: int) -> None:
        under = kept[0]
        kbps = under.kbps / options.min_step
        own = convex_hull([m for m in points if m.height == height])
        same = bitrate_for_quality(own, min(under.quality, sat_q)) if own else None
        if same is not None:  # cheaper when the smaller size already looks as good
            kbps = max(min(kbps, same), under.kbps / options.max_step)
        kbps = max(1.0, min(kbps, cap(height)))
        kept.insert(0, _Candidate(height, kbps, quality(height, kbps)))

    def tallest(heights: Sequence[int], limit: int) -> int | None:
        fits = [h for h in heights if h <= limit]
        return max(fits) if fits else None

    # Measured sizes first (their own curves price the rung), then the usual heights.
    for ceiling in coverage_ceilings(src_height):
        if kept[0].height > ceiling:
            add_below(
                tallest(measured_heights, ceiling)
                or tallest(lift_heights, ceiling)
                or _even(ceiling)
            )
    while not is_tiny(src_height) and len(kept) < MIN_RUNGS:
        limit = kept[0].height - 1
        add_below(
            tallest(measured_heights, limit) or tallest(lift_heights, limit) or kept[0].height
        )

    specs: list[tuple[int, int, int]] = []
    crfs: list[float | None] = []
    for cand in kept:
        w, h = size(cand.height)
        specs.append((w, h, round(cand.kbps)))
        crfs.append(crf(cand.height, cand.kbps))
    # The placement above meets the rule by construction; checking it here means a bug in
    # it fails the analysis instead of publishing a title some plan cannot play.
    problems = coverage_problems([h for _, h, _ in specs], src_height)
    if problems:
        raise LadderError(f"ladder misses coverage: {'; '.join(problems)}")
    return _named_rungs(specs, options.codec, crfs)


# ---- analysis (ffmpeg) --------------------------------------------------------------


def sample_windows(
    duration_s: float,
    *,
    count: int,
    length_s: float,
    exclude: Sequence[tuple[float, float]] = (),
) -> list[tuple[float, float]]:
    """``count`` windows (start, length) spread evenly over the title, outside ``exclude``.

    Windows are centred in equal slots, so the first and last stay clear of head and tail
    (titles, fades, black). A window that hits an excluded interval moves to the nearest
    clear position in its slot; a title too short for the windows is sampled whole.
    """
    if duration_s <= 0:
        raise LadderError(f"title duration must be positive, got {duration_s}")
    if duration_s <= count * length_s:
        return [(0.0, duration_s)]
    slot = duration_s / count
    windows = []
    for i in range(count):
        start = i * slot + (slot - length_s) / 2
        for ex_start, ex_end in exclude:
            if start < ex_end and start + length_s > ex_start:
                after, before = ex_end, ex_start - length_s
                start = after if after + length_s <= (i + 1) * slot else max(before, i * slot)
        start = min(max(start, 0.0), duration_s - length_s)
        windows.append((round(start, 3), length_s))
    return windows


def extract_sample(
    src: Path, windows: list[tuple[float, float]], out: Path, *, ffmpeg: str
) -> None:
    """Concatenate the windows into one lossless clip, decoded once per window."""
    args: list[str] = []
    for start, length in windows:
        args += [
            *MASTER_INPUT_OPTIONS,
            "-ss",
            f"{start:.3f}",
            "-t",
            f"{length:.3f}",
            "-i",
            str(src),
        ]
    inputs = "".join(f"[{i}:v:0]" for i in range(len(windows)))
    graph = f"{inputs}concat=n={len(windows)}:v=1:a=0,format=yuv420p[v]"
    args += ["-filter_complex", graph, "-map", "[v]", "-an", "-sn", "-dn"]
    args += ["-c:v", "libx264", "-qp", "0", "-preset", "ultrafast", "-y", str(out)]
    run_ffmpeg(args, ffmpeg=ffmpeg)


def _encode_points(
    sample: Path,
    size: tuple[int, int],
    crfs: Sequence[int],
    out_dir: Path,
    *,
    codec: Codec,
    preset: str,
    gop: int,
    gop_s: float,
    ffmpeg: str,
) -> list[Path]:
    """One process per resolution: scale once, split to one CRF encode per quality point."""
    w, h = size
    labels = [f"[o{i}]" for i in range(len(crfs))]
    graph = f"[0:v]scale={w}:{h}:flags=bicubic,setsar=1,split={len(crfs)}{''.join(labels)}"
    args = ["-i", str(sample), "-filter_complex", graph]
    outs = []
    for label, crf in zip(labels, crfs, strict=True):
        out = out_dir / f"p_{h}_{crf}.mp4"
        args += ["-map", label, *encoder_args(codec, preset), "-crf", str(crf)]
        args += [*gop_args(codec, gop=gop, gop_s=gop_s), "-y", str(out)]
        outs.append(out)
    run_ffmpeg(args, ffmpeg=ffmpeg)
    return outs


def analyse_per_title(
    path: Path,
    info: MediaInfo,
    *,
    ffmpeg: str,
    ffmpeg_vmaf: str | None,
    options: LadderOptions | None = None,
    on_progress: Callable[[float], None] | None = None,
    work_dir: Path | None = None,
) -> Ladder:
    """Measure the title on sample windows and build its per-title ladder.

    Quality is VMAF when ``ffmpeg_vmaf`` is given, else PSNR; the ladder records which.
    Work files go to a temporary directory (inside ``work_dir`` when given).
    """
    opts = options or LadderOptions()
    video = info.video
    if video is None:
        raise LadderError(f"{path}: no video stream to analyse")
    if info.duration_s <= 0:
        raise LadderError(f"{path}: unknown duration")
    src_w, src_h = video.display_size
    windows = sample_windows(
        info.duration_s, count=opts.sample_count, length_s=opts.sample_s, exclude=opts.exclude
    )
    sample_s = sum(length for _, length in windows)
    sizes = analysis_resolutions(src_w, src_h, opts.analysis_resolutions)
    crfs = opts.crf_values or ANALYSIS_CRF[opts.codec]
    total_steps = 1 + len(sizes) * (1 + len(crfs))
    done = 0

    def step() -> None:
        nonlocal done
        done += 1
        if on_progress is not None:
            on_progress(done / total_steps)

    measurements: list[Measurement] = []
    metric: Metric = "vmaf" if ffmpeg_vmaf else "psnr"
    with tempfile.TemporaryDirectory(prefix="ladder-", dir=work_dir) as tmp:
        tmp_dir = Path(tmp)
        sample = tmp_dir / "sample.mkv"
        extract_sample(path, windows, sample, ffmpeg=ffmpeg)
        step()
        for size in sizes:
            outs = _encode_points(
                sample,
                size,
                crfs,
                tmp_dir,
                codec=opts.codec,
                preset=opts.preset,
                gop=max(1, round(video.fps * opts.gop_s)) if video.fps > 0 else 50,
                gop_s=opts.gop_s,
                ffmpeg=ffmpeg,
            )
            step()
            for crf, out in zip(crfs, outs, strict=True):
                score = measure_quality(
                    out,
                    sample,
                    ffmpeg_vmaf=ffmpeg_vmaf,
                    ffmpeg=ffmpeg,
                    width=src_w,
                    height=src_h,
                    subsample=opts.vmaf_subsample,
                )
                metric = score.metric
                kbps = out.stat().st_size * 8 / 1000 / sample_s
                measurements.append(Measurement(size[0], size[1], crf, round(kbps, 1), score.value))
                step()
    hull = convex_hull(measurements)
    rungs = select_rungs(
        hull,
        metric=metric,
        options=opts,
        src_width=src_w,
        src_height=src_h,
        measurements=measurements,
    )
    return Ladder(
        rungs=rungs,
        method="per_title",
        metric=metric,
        measurements=tuple(measurements),
        hull=tuple(hull),
    )
