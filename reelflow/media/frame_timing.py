"""How regular a video stream's frame durations are, measured from its own timestamps.

A container stores timestamps in its time base: Matroska in milliseconds, so a constant
24 fps stream's frames land at 0, 42, 83, 125 ms and two thirds of the durations differ by
1 ms from the rest. ffmpeg's ``vfrdet`` compares durations exactly and calls that variable.
Here a duration is regular when it is within the tolerance of the nominal duration: one
tick of the stream's time base or 1 ms, whichever is larger. One tick is the rounding any
container must do; 1 ms covers muxers that round to milliseconds inside a finer time base
(MP4 written from a Matroska source). Real VFR (a dropped frame doubles a duration, a
24/30 fps splice changes it by 8 ms, phone jitter is several ms) stays far outside.

The nominal duration is the median of the durations, not ``r_frame_rate``: ffprobe's
``r_frame_rate`` is a guess that for a mixed-rate stream is the least common multiple of
the rates, while the median is the rate the stream mostly runs at.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from statistics import median
from typing import Any

from reelflow.media.ffmpeg_run import run_ffprobe_json
from reelflow.media.probe import MASTER_INPUT_OPTIONS

# The larger of one time-base tick and this is the rounding a duration may carry.
ROUNDING_FLOOR_S = Fraction(1, 1000)
# Reading packet timestamps demuxes the whole file (no decoding): seconds for hours.
TIMESTAMP_READ_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class FrameTiming:
    """Frame durations of one stream against its nominal duration."""

    frames: int
    time_base: str  # as the container stores it, e.g. "1/1000"
    nominal_ms: float  # median frame duration
    tolerance_ms: float  # max(one tick, 1 ms)
    irregular_share: float  # durations further than the tolerance from the nominal
    jitter_p95_ms: float  # 95th percentile of |duration - nominal|, regular ones included
    jitter_max_ms: float

    def describe(self) -> str:
        return (
            f"{self.irregular_share:.0%} of {self.frames - 1} frame durations off the nominal "
            f"{self.nominal_ms:.2f} ms by more than {self.tolerance_ms:.2f} ms "
            f"(jitter p95 {self.jitter_p95_ms:.2f} ms, max {self.jitter_max_ms:.2f} ms; "
            f"time base {self.time_base})"
        )


def measure_frame_timing(
    path: str | Path,
    stream_index: int,
    *,
    ffprobe: str,
    timeout_s: float = TIMESTAMP_READ_TIMEOUT_S,
) -> FrameTiming | None:
    """Frame timing of stream ``stream_index``; None when it has fewer than 3 timestamps."""
    data = run_ffprobe_json(
        [
            *MASTER_INPUT_OPTIONS,
            *("-select_streams", str(stream_index)),
            *("-show_entries", "stream=time_base:packet=pts,dts"),
            str(path),
        ],
        ffprobe=ffprobe,
        timeout_s=timeout_s,
        step="frame timestamps",
    )
    return frame_timing(_time_base(data), _timestamps(data))


def frame_timing(time_base: Fraction, timestamps: list[int]) -> FrameTiming | None:
    """Frame timing from presentation timestamps in ``time_base`` ticks (any order)."""
    stamps = sorted(set(timestamps))  # B-frames arrive in decode order
    if len(stamps) < 3 or time_base <= 0:
        return None
    durations = [b - a for a, b in itertools.pairwise(stamps)]
    nominal = Fraction(median(durations))
    # Compared exactly in ticks: float rounding must not decide a 1-tick case.
    tolerance = max(Fraction(1), ROUNDING_FLOOR_S / time_base)
    offsets = sorted(abs(d - nominal) for d in durations)
    irregular = sum(1 for off in offsets if off > tolerance)
    p95 = offsets[min(len(offsets) - 1, int(0.95 * len(offsets)))]

    def ms(ticks: Fraction) -> float:
        return round(float(ticks * time_base * 1000), 3)

    return FrameTiming(
        frames=len(stamps),
        time_base=str(time_base),
        nominal_ms=ms(nominal),
        tolerance_ms=ms(tolerance),
        irregular_share=round(irregular / len(durations), 4),
        jitter_p95_ms=ms(p95),
        jitter_max_ms=ms(offsets[-1]),
    )


def _time_base(data: dict[str, Any]) -> Fraction:
    streams = data.get("streams") or [{}]
    try:
        return Fraction(str(streams[0].get("time_base") or "0"))
    except (ValueError, ZeroDivisionError):
        return Fraction(0)


def _timestamps(data: dict[str, Any]) -> list[int]:
    out = []
    for packet in data.get("packets") or []:
        value = packet.get("pts", packet.get("dts"))
        if isinstance(value, int):
            out.append(value)
    return out
