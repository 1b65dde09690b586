"""Shaka Packager in live mode, twice over the same encode: low-latency DASH (CMAF segments
of ``segment_s`` written in chunks as frames arrive, ``availabilityTimeOffset``, UTC timing)
and HLS for players without LL-DASH, each with a time-shift window past which the packager
deletes old segments itself.

Two packagers, because one in low-latency mode writes HLS playlists that list every chunk
as a segment (the packager has no LL-HLS yet); each reads its own FIFO, which the encoder
fills through ffmpeg's tee muxer. A packager reads one demuxer per input, so every stream
descriptor names the same FIFO and picks its stream by index: rung i is video stream i,
the sound is ``audio``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from reelflow.live.realtime_encode import LiveRung

MPD_NAME = "live.mpd"
HLS_MASTER_NAME = "master.m3u8"
AUDIO_DIR = "audio"
DASH_DIR = "dash"
HLS_DIR = "hls"


@dataclass(frozen=True)
class LiveWindow:
    segment_s: float = 2.0
    dvr_s: int = 7_200  # the time-shift buffer players may seek back into
    target_latency_s: float = 3.0


@dataclass(frozen=True)
class LiveEncryption:
    """``--flagfile`` with the raw keys (packaging.packager_run.key_flags) and the DRM
    label per track class for the sound and each rung."""

    flagfile_arg: str
    audio_label: str
    rung_labels: tuple[str, ...]
    protection_systems: str = "Widevine,PlayReady,CommonSystem"


def _descriptor(source: str, stream: str, out: Path, name: str, label: str | None) -> str:
    fields = [
        f"in={source}",
        f"stream={stream}",
        f"init_segment={out / name / 'init.mp4'}",
        f"segment_template={out / name / '$Number$.m4s'}",
        f"playlist_name={name}/index.m3u8",
    ]
    if stream == "audio":
        fields.append("hls_group_id=audio")
    if label:
        fields.append(f"drm_label={label}")
    return ",".join(fields)


def _descriptors(
    source: str, out: Path, rungs: Sequence[LiveRung], encryption: LiveEncryption | None
) -> list[str]:
    labels = encryption.rung_labels if encryption else (None,) * len(rungs)
    audio_label = encryption.audio_label if encryption else None
    return [_descriptor(source, "audio", out, AUDIO_DIR, audio_label)] + [
        _descriptor(source, str(i), out, rung.name, labels[i]) for i, rung in enumerate(rungs)
    ]


def _encryption_args(encryption: LiveEncryption | None) -> list[str]:
    if encryption is None:
        return []
    return [
        encryption.flagfile_arg,
        "--protection_scheme", "cbcs",
        "--protection_systems", encryption.protection_systems,
        "--clear_lead", "0",
    ]  # fmt: skip


def dash_packager_args(
    packager: str,
    source: str,
    out: Path,
    rungs: Sequence[LiveRung],
    *,
    window: LiveWindow,
    utc_timing_url: str,
    encryption: LiveEncryption | None = None,
) -> list[str]:
    dash = out / DASH_DIR
    return [
        packager, *_descriptors(source, dash, rungs, encryption),
        "--segment_duration", f"{window.segment_s:g}",
        "--low_latency_dash_mode",
        "--utc_timings", f"urn:mpeg:dash:utc:http-iso:2014={utc_timing_url}",
        "--suggested_presentation_delay", f"{window.target_latency_s:g}",
        "--time_shift_buffer_depth", str(window.dvr_s),
        "--preserved_segments_outside_live_window", "3",
        "--mpd_output", str(dash / MPD_NAME),
        *_encryption_args(encryption),
    ]  # fmt: skip


def hls_packager_args(
    packager: str,
    source: str,
    out: Path,
    rungs: Sequence[LiveRung],
    *,
    window: LiveWindow,
    encryption: LiveEncryption | None = None,
) -> list[str]:
    hls = out / HLS_DIR
    return [
        packager, *_descriptors(source, hls, rungs, encryption),
        "--segment_duration", f"{window.segment_s:g}",
        "--time_shift_buffer_depth", str(window.dvr_s),
        "--preserved_segments_outside_live_window", "3",
        "--hls_master_playlist_output", str(hls / HLS_MASTER_NAME),
        "--hls_playlist_type", "LIVE",
        *_encryption_args(encryption),
    ]  # fmt: skip
