"""Encoder arguments per codec: encoder name, speed preset and fixed closed GOPs.

Shared by the per-title analysis (ladder.py) and the real encodes (encode.py), so both
spend bits the same way.
"""

from __future__ import annotations

from reelflow.domain.codecs import VideoCodec as Codec


def encoder_args(codec: Codec, preset: str) -> list[str]:
    """Encoder name and speed preset for ``codec`` (svt-av1 takes a number)."""
    if codec == "h264":
        return ["-c:v", "libx264", "-preset", preset]
    if codec == "hevc":
        return ["-c:v", "libx265", "-preset", preset, "-tag:v", "hvc1"]
    av1_preset = {"ultrafast": "12", "superfast": "11", "veryfast": "10", "faster": "9"}
    return ["-c:v", "libsvtav1", "-preset", av1_preset.get(preset, "8")]


def gop_args(codec: Codec, *, gop: int, gop_s: float) -> list[str]:
    """Closed GOPs of ``gop`` frames forced on multiples of ``gop_s`` seconds, no scene cuts.

    Shared by the analysis and the real encodes: keyframe cost is a large part of the bits
    on easy content, so measuring without the production GOP would under-estimate it.
    """
    common = [
        "-g",
        str(gop),
        "-keyint_min",
        str(gop),
        "-sc_threshold",
        "0",
        "-force_key_frames",
        f"expr:gte(t,n_forced*{gop_s:g})",
    ]
    if codec == "h264":
        return [*common, "-x264-params", "open-gop=0:scenecut=0"]
    if codec == "hevc":
        params = f"keyint={gop}:min-keyint={gop}:scenecut=0:open-gop=0:log-level=error"
        return [*common, "-x265-params", params]
    return [*common, "-svtav1-params", f"keyint={gop}:irefresh-type=2:scd=0"]
