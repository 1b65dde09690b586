"""The per-title analysis: encode sample windows of the title at several sizes and
quality settings with ffmpeg, measure each, and build the ladder from the points."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from reelflow.domain.ladders import Ladder, Measurement
from reelflow.media.codecs import Codec, encoder_args, gop_args
from reelflow.media.ffmpeg_run import run_ffmpeg
from reelflow.media.ladder import ANALYSIS_CRF, LadderError, LadderOptions, analysis_resolutions
from reelflow.media.ladder_curves import convex_hull
from reelflow.media.ladder_rungs import select_rungs
from reelflow.media.probe import MASTER_INPUT_OPTIONS, MediaInfo, VideoStream
from reelflow.media.quality import Metric, measure_quality


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


class _Progress:
    """Counts finished steps of an analysis and reports the share done."""

    def __init__(self, total: int, on_progress: Callable[[float], None] | None) -> None:
        self.total, self.done, self.on_progress = total, 0, on_progress

    def step(self) -> None:
        self.done += 1
        if self.on_progress is not None:
            self.on_progress(self.done / self.total)


def _analysable_video(path: Path, info: MediaInfo) -> VideoStream:
    if info.video is None:
        raise LadderError(f"{path}: no video stream to analyse")
    if info.duration_s <= 0:
        raise LadderError(f"{path}: unknown duration")
    return info.video


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
    video = _analysable_video(path, info)
    src_w, src_h = video.display_size
    windows = sample_windows(
        info.duration_s, count=opts.sample_count, length_s=opts.sample_s, exclude=opts.exclude
    )
    sizes = analysis_resolutions(src_w, src_h, opts.analysis_resolutions)
    crfs = opts.crf_values or ANALYSIS_CRF[opts.codec]
    progress = _Progress(1 + len(sizes) * (1 + len(crfs)), on_progress)
    gop = max(1, round(video.fps * opts.gop_s)) if video.fps > 0 else 50
    with tempfile.TemporaryDirectory(prefix="ladder-", dir=work_dir) as tmp:
        tmp_dir = Path(tmp)
        sample = tmp_dir / "sample.mkv"
        extract_sample(path, windows, sample, ffmpeg=ffmpeg)
        progress.step()
        metric, measurements = _measure(
            sample,
            sizes,
            crfs,
            tmp_dir,
            opts,
            gop=gop,
            sample_s=sum(length for _, length in windows),
            source=(src_w, src_h),
            ffmpeg=ffmpeg,
            ffmpeg_vmaf=ffmpeg_vmaf,
            progress=progress,
        )
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


def _measure(
    sample: Path,
    sizes: Sequence[tuple[int, int]],
    crfs: Sequence[int],
    tmp_dir: Path,
    opts: LadderOptions,
    *,
    gop: int,
    sample_s: float,
    source: tuple[int, int],
    ffmpeg: str,
    ffmpeg_vmaf: str | None,
    progress: _Progress,
) -> tuple[Metric, list[Measurement]]:
    """Encode the sample at every size and CRF and measure each against it (at the
    source's size); the metric is the one the measurements used."""
    measurements: list[Measurement] = []
    metric: Metric = "vmaf" if ffmpeg_vmaf else "psnr"
    for size in sizes:
        outs = _encode_points(
            sample,
            size,
            crfs,
            tmp_dir,
            codec=opts.codec,
            preset=opts.preset,
            gop=gop,
            gop_s=opts.gop_s,
            ffmpeg=ffmpeg,
        )
        progress.step()
        for crf, out in zip(crfs, outs, strict=True):
            score = measure_quality(
                out,
                sample,
                ffmpeg_vmaf=ffmpeg_vmaf,
                ffmpeg=ffmpeg,
                width=source[0],
                height=source[1],
                subsample=opts.vmaf_subsample,
            )
            metric = score.metric
            kbps = out.stat().st_size * 8 / 1000 / sample_s
            measurements.append(Measurement(size[0], size[1], crf, round(kbps, 1), score.value))
            progress.step()
    return metric, measurements
