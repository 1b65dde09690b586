"""Wrapper overhead: reelflow.packaging.package() vs a bare packager call, same renditions.

Both sides package the same encrypted (cbcs, raw keys) DASH+HLS output from the same
renditions with the same argument list; the wrapper additionally validates inputs, writes
the key flag file, rewrites the HLS key URIs and parses the result (no verification).
Runs are interleaved so machine noise hits both sides alike. Prints medians and the ratio.

    .venv/bin/python bench/packaging.py [--runs 9]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from reelflow.config import get_settings
from reelflow.domain.content_keys import generate_content_keys
from reelflow.domain.track_classes import TrackClass
from reelflow.packaging.packager import package, packager_args
from reelflow.packaging.packager_run import key_flags
from reelflow.packaging.streams import AudioTrack, SubtitleTrack, VideoRendition, plan_streams

RUNGS = ((426, 240, "300k"), (640, 360, "600k"), (854, 480, "1000k"), (1280, 720, "2000k"))


def make_media(d: Path, ffmpeg: str, seconds: int) -> tuple[list[VideoRendition], list[AudioTrack]]:
    videos = []
    for w, h, rate in RUNGS:
        out = d / f"v{h}.mp4"
        subprocess.run(
            [ffmpeg, "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi",
             "-i", f"testsrc2=size={w}x{h}:rate=24:duration={seconds}", "-c:v", "libx264",
             "-preset", "ultrafast", "-b:v", rate, "-g", "48", "-keyint_min", "48",
             "-sc_threshold", "0", "-pix_fmt", "yuv420p", "-an", str(out)],
            check=True,
        )  # fmt: skip
        videos.append(VideoRendition(out, w, h, int(rate[:-1]) * 1000))
    audio = d / "audio.mp4"
    subprocess.run(
        [ffmpeg, "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi",
         "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}", "-ac", "2",
         "-c:a", "aac", "-b:a", "128k", str(audio)],
        check=True,
    )  # fmt: skip
    return videos, [AudioTrack(audio, "en")]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--seconds", type=int, default=30)
    opts = parser.parse_args()
    settings = get_settings()
    packager, ffmpeg = settings.binary("packager"), settings.binary("ffmpeg")
    keys = generate_content_keys([TrackClass.AUDIO, TrackClass.SD, TrackClass.HD])
    with contextlib.ExitStack() as stack:
        root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-pkg-")))
        videos, audios = make_media(root, ffmpeg, opts.seconds)
        vtt = root / "en.vtt"
        vtt.write_text("WEBVTT\n\n00:00:01.000 --> 00:00:03.000\nHello\n")
        subs = [SubtitleTrack(vtt, "en")]
        # The bare side gets the identical argument list the wrapper builds.
        streams = plan_streams(videos, audios, subs, encrypted=True)
        flags = stack.enter_context(key_flags(keys))
        bare_args = [packager, *packager_args(streams, key_flags=flags)]

        wrapper_s: list[float] = []
        bare_s: list[float] = []
        for i in range(opts.runs + 1):  # run 0 warms the page cache and is discarded
            out_w, out_b = root / f"w{i}", root / f"b{i}"
            out_b.mkdir()
            # Alternate which side goes first: the second run of a pair finds warmer caches.
            for side in ("bare", "wrapper") if i % 2 else ("wrapper", "bare"):
                t0 = time.perf_counter()
                if side == "bare":
                    subprocess.run(
                        bare_args, cwd=out_b, capture_output=True, check=True,
                        pass_fds=flags.pass_fds,
                    )  # fmt: skip
                else:
                    result = package(
                        videos, audios, subs, out_dir=out_w, packager=packager, keys=keys
                    )
                    assert result.drm_systems == ("clearkey", "fairplay", "playready", "widevine")
                elapsed = time.perf_counter() - t0
                if i:
                    (bare_s if side == "bare" else wrapper_s).append(elapsed)
        bare, wrapper = statistics.median(bare_s), statistics.median(wrapper_s)
        print(
            f"renditions: {len(videos)} video + {len(audios)} audio + 1 text, "
            f"{opts.seconds} s, cbcs"
        )
        print(f"runs: {opts.runs} each, interleaved")
        print(f"bare packager  median {bare * 1000:8.1f} ms")
        print(f"wrapper        median {wrapper * 1000:8.1f} ms")
        print(f"ratio wrapper/bare: {wrapper / bare:.3f}x (aim <= 1.1x)")


if __name__ == "__main__":
    main()
