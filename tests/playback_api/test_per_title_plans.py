"""A flat and a busy title go through the real per-title analysis and encode, get packaged
and published, and every plan can start playback and gets a manifest with video in it."""

from __future__ import annotations

import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from reelflow.config import get_settings
from reelflow.domain.plans import WEAK_DEVICE_MAX_HEIGHT, coverage_problems
from reelflow.domain.track_classes import pixel_limit
from reelflow.media.chunks import Chunk
from reelflow.media.encode import encode_chunk
from reelflow.media.ladder import LadderOptions
from reelflow.media.ladder_analysis import analyse_per_title
from reelflow.media.probe import probe
from reelflow.packaging.streams import VideoRendition
from reelflow.playback_api.delivery.entitlements import PLAN_LIMITS
from reelflow.playback_api.delivery.key_policy import key_policy_from_settings
from tests.playback_api.conftest import ApiHarness

SECONDS = 4
SOURCES = {
    # A still card with a ticking counter: saturates at tens of kb/s.
    "flat": "testsrc=s=1280x720:r=24",
    # Moving pattern under full-frame temporal noise: never saturates.
    "busy": "testsrc2=s=1280x720:r=24,noise=alls=40:allf=t+u",
}
# Short analysis: one 2 s window, three sizes, three CRFs; PSNR (Debian ffmpeg) keeps it
# quick, and the coverage rules do not depend on the metric.
FAST = LadderOptions(sample_count=1, sample_s=2.0, analysis_resolutions=3, crf_values=(22, 30, 38))


def _renditions(name: str, lavfi: str, work: Path) -> tuple[VideoRendition, ...]:
    settings = get_settings()
    ffmpeg, ffprobe = settings.binary("ffmpeg"), settings.binary("ffprobe")
    src = work / f"{name}.mp4"
    subprocess.run(
        [ffmpeg, "-v", "error", "-y", "-f", "lavfi", "-i", lavfi, "-t", str(SECONDS),
         "-c:v", "libx264", "-preset", "ultrafast", "-crf", "10", "-pix_fmt", "yuv420p",
         str(src)],
        check=True,
    )  # fmt: skip
    info = probe(src, ffprobe=ffprobe)
    ladder = analyse_per_title(src, info, ffmpeg=ffmpeg, ffmpeg_vmaf=None, options=FAST)
    assert coverage_problems([r.height for r in ladder.rungs], 720) == [], ladder.rungs
    outs = encode_chunk(src, Chunk(0, 0.0, SECONDS), ladder, work / f"{name}-enc", ffmpeg=ffmpeg,
                        fps=24.0, preset="ultrafast")  # fmt: skip
    return tuple(
        VideoRendition(outs[r.name], r.width, r.height, max(1, r.bitrate_kbps) * 1000, name=r.name)
        for r in ladder.rungs
    )


def _video_pixels(mpd: str) -> list[int]:
    """Pixel counts of the MPD's video representations (a set with one size carries it)."""
    pixels = []
    for aset in ET.fromstring(mpd).iter("{urn:mpeg:dash:schema:mpd:2011}AdaptationSet"):
        if aset.get("contentType") != "video":
            continue
        for rep in aset.iter("{urn:mpeg:dash:schema:mpd:2011}Representation"):
            width = int(rep.get("width") or aset.get("width") or 0)
            pixels.append(width * int(rep.get("height") or aset.get("height") or 0))
    return pixels


def _path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


@pytest.mark.slow
def test_per_title_titles_play_on_every_plan(api: ApiHarness, tmp_path: Path) -> None:
    for name, lavfi in SOURCES.items():
        videos = _renditions(name, lavfi, tmp_path)
        heights = sorted(v.height for v in videos)
        assert heights[0] <= WEAK_DEVICE_MAX_HEIGHT and len(heights) >= 3, heights
        api.publish(f"tt-{name}", videos=videos)
        sizes = [v.width * v.height for v in videos]
        clearkey = key_policy_from_settings(api.settings).unlockable("clearkey")
        for plan, limits in PLAN_LIMITS.items():
            # The session's cap: the plan's, narrowed to what ClearKey may unlock.
            cap = min(limits.max_pixels, pixel_limit(limits.key_classes & clearkey))
            response = api.start_playback(f"tt-{name}", api.auth(plan=plan))  # type: ignore[arg-type]
            assert response.status_code == 201, (name, plan, response.text)
            session: dict[str, Any] = response.json()
            mpd = api.client.get(_path(session["manifests"]["dash"]))
            assert mpd.status_code == 200, (name, plan)
            shown = _video_pixels(mpd.text)
            assert shown and max(shown) <= cap, (name, plan, shown)
            # the plan sees every rung it is allowed, not just one
            assert len(shown) == sum(p <= cap for p in sizes), (name, plan)
            api.client.delete(f"/v1/sessions/{session['session_id']}", headers=api.auth(plan=plan))
