"""Quality control of a master: named pass / warn / fail checks plus encoder adaptations.

Cheap checks come from ffprobe; a failing one stops QC before any decoding. Then at
most two decode passes: one over the video (decode errors, truncation, blackdetect and
idet in one filter chain) and one audio-only pass (ebur128 + silencedetect; ebur128 must
not share a graph with video outputs or it reads 0 LUFS). Frame regularity comes from the
packet timestamps (``frame_timing``), which a demux reads without decoding.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from reelflow.media.errors import ProbeError
from reelflow.media.probe import MediaInfo, probe
from reelflow.media.qc_passes import audio_pass, cfr_target, video_pass
from reelflow.media.qc_report import Adaptations, QCCheck, QCOptions, QCReport
from reelflow.media.qc_static import metadata_warnings, static_checks


def run_qc(
    path: str | Path,
    *,
    ffmpeg: str,
    ffprobe: str,
    options: QCOptions | None = None,
    on_progress: Callable[[float], None] | None = None,
) -> QCReport:
    """QC one master file. Never raises for bad media: failures are checks in the report."""
    opts = options or QCOptions()
    report = QCReport()
    try:
        info = probe(path, ffprobe=ffprobe)
    except ProbeError as exc:
        report.checks.append(QCCheck("probe", "fail", str(exc)))
        return report
    report.media = info
    report.checks.append(QCCheck("probe", "pass", "readable", info.format_name))
    report.checks.extend(static_checks(info, opts))
    if not report.passed:
        return report  # nothing to decode or not worth decoding

    has_audio = info.has_audio
    video_share = 0.8 if has_audio else 1.0

    def video_progress(f: float) -> None:
        if on_progress is not None:
            on_progress(f * video_share)

    report.checks.extend(video_pass(Path(path), info, opts, (ffmpeg, ffprobe), video_progress))
    if not report.passed:
        return report
    report.checks.extend(metadata_warnings(info))
    if has_audio:

        def audio_progress(f: float) -> None:
            if on_progress is not None:
                on_progress(video_share + f * (1 - video_share))

        report.checks.extend(audio_pass(Path(path), info, opts, ffmpeg, audio_progress))
    else:
        report.checks.append(QCCheck("audio", "warn", "no audio stream", 0))
    report.adaptations = _adaptations(report, info)
    if on_progress is not None:
        on_progress(1.0)
    return report


def _adaptations(report: QCReport, info: MediaInfo) -> Adaptations:
    def warned(name: str) -> bool:
        c = report.check(name)
        return c is not None and c.status == "warn"

    v = info.video
    return Adaptations(
        deinterlace=warned("interlace"),
        force_cfr_fps=cfr_target(info) if warned("frame_rate") else None,
        rotate_degrees=v.rotation if v else 0,
        normalize_loudness=warned("loudness"),
        hdr=info.is_hdr,
        no_audio=not info.has_audio,
    )
