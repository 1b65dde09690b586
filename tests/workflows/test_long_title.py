"""A feature-length title (2 hours, ~6.3 GB master) through the whole lifecycle.

Real Temporal dev server, real ffmpeg and Shaka Packager, the real control and media
workers (in-process). The master is feature-shaped where that costs little CPU: 5.1
24-bit PCM makes it as big as a real delivery (ingest, hashing and demuxing scale with
the bytes) while the picture is 320x180 at 5 fps (encodes stay cheap). It checks what
only length breaks: duration, one segment per 6 s in every rung, the sprite sheets, a
subtitle cue two hours in, that the first and the last segment decrypt and decode to the
clear rendition's frames, and how big the workflow history grows. Figures per stage are
printed (docs/performance.md "Duration scaling" records them).
"""

from __future__ import annotations

import math
import shutil
import time
from pathlib import Path

import m3u8
import pytest
from temporalio.testing import WorkflowEnvironment

from bench.duration_scaling import count_objects, run_lifecycle
from reelflow.activities.deps import Deps
from reelflow.activities.packaging_activities import load_keys
from reelflow.catalog import engine_from_settings
from reelflow.catalog import packages as catalog_packages
from reelflow.catalog import titles as q
from reelflow.catalog.models import Package
from reelflow.config import Settings
from reelflow.domain.content_keys import ContentKey
from reelflow.domain.ids import workflow_id
from reelflow.domain.track_classes import TrackClass
from reelflow.lifecycle import contracts as c
from reelflow.media.quality import vmaf_ffmpeg
from reelflow.media.samples import make_long_master, write_long_subtitles
from reelflow.media.subtitles import format_timestamp
from reelflow.media.thumbnails import default_interval
from reelflow.packaging.verify_frames import segment_frames
from reelflow.storage import ObjectStore, store_from_settings
from reelflow.workflows.title import TitleWorkflow
from tests.workflows.conftest import running_workers

pytestmark = pytest.mark.slow

TITLE_S = 7200.0
FPS = 5
SEGMENT_S = 6
SUB_EVERY_S = 30.0
# A media activity silent for longer than this fails (the retry would show in the
# attempts and the wall time): every step of a 2-hour title must report progress.
HEARTBEAT_TIMEOUT_S = 5.0
# Source (~6.3 GB) + ingest scratch + store copy, renditions and package, with headroom.
NEEDS_FREE_GB = 22.0
PUBLISH_LIMIT_S = 1800.0


def _media_playlist(store_text: str) -> tuple[str, list[str], list[float]]:
    """(init segment URI, segment URIs, EXTINF durations) of an fMP4 media playlist."""
    pl = m3u8.loads(store_text)
    init = pl.segment_map[0].uri if pl.segment_map else ""
    return init, [s.uri for s in pl.segments], [float(s.duration) for s in pl.segments]


async def test_two_hour_title_is_published_whole(
    temporal_env: WorkflowEnvironment,
    lifecycle_settings: Settings,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = lifecycle_settings
    free_gb = shutil.disk_usage(tmp_path).free / 1e9
    assert free_gb >= NEEDS_FREE_GB, f"{free_gb:.0f} GB free under {tmp_path}, need 22"
    try:
        await _run(temporal_env, settings, tmp_path, capsys)
    finally:
        # Several GB: never left for pytest's tmp retention.
        shutil.rmtree(tmp_path / "src", ignore_errors=True)
        shutil.rmtree(settings.home, ignore_errors=True)


async def _run(
    temporal_env: WorkflowEnvironment,
    settings: Settings,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    t0 = time.perf_counter()
    ffmpeg = settings.binary("ffmpeg")
    master = make_long_master(tmp_path / "src" / "master.mov", ffmpeg=ffmpeg, seconds=TITLE_S)
    subs = tmp_path / "src" / "en.srt"
    cues = write_long_subtitles(subs, seconds=TITLE_S, every_s=SUB_EVERY_S)
    make_s = time.perf_counter() - t0
    master_gb = master.stat().st_size / 1e9
    assert master_gb > TITLE_S * 6 * 3 * 48000 / 1e9, master_gb  # 5.1 x 24 bit x 48 kHz

    # Catalog and store first: the figures below must not wait on anything that can fail.
    engine = engine_from_settings(settings)
    store = store_from_settings(settings)
    client = temporal_env.client
    async with running_workers(client, settings):
        run = await run_lifecycle(
            client,
            settings,
            master,
            subs,
            seconds=TITLE_S,
            heartbeat_s=HEARTBEAT_TIMEOUT_S,
            procs=[],
            limit_s=PUBLISH_LIMIT_S,
        )
        handle = client.get_workflow_handle_for(TitleWorkflow.run, workflow_id(run.title_id))
        objects = count_objects(settings)
        h = run.history
        with capsys.disabled():
            print(f"\n2-hour title: master {master_gb:.2f} GB + {cues} cues made in {make_s:.0f} s")
            print(f"published in {run.wall_s:.0f} s; per stage (s):")
            for stage, secs in h.stage_s.items():
                print(f"  {stage:<11}{secs:8.1f}  attempts {h.attempts.get(stage, 0)}")
            print(f"history: {h.events} events, {h.bytes / 1024:.0f} KB; {objects} objects")
        title_id = run.title_id
        pkg = catalog_packages.get_package(engine, title_id, 1)
        assert pkg is not None and pkg.encrypted
        keys = load_keys(Deps(settings, engine, store), title_id, pkg.kids)
        checks = _check_package(settings, store, pkg, keys, cues, run.status.renditions)
        await handle.signal(TitleWorkflow.takedown, "test done")
        assert (await handle.result()).state == "taken_down"

    with capsys.disabled():
        print("package: " + "; ".join(checks))

    # No media activity was retried: none went silent past the heartbeat timeout.
    chunks = math.ceil(TITLE_S / 60)
    assert h.attempts.get("encode") == chunks, h.attempts
    retried = {s: n for s, n in h.attempts.items() if s != "encode" and n != 1}
    assert not retried, retried
    duration = q.get_title(engine, title_id).duration_s
    assert duration is not None and abs(duration - TITLE_S) < 0.5, duration


def _check_package(
    settings: Settings,
    store: ObjectStore,
    pkg: Package,
    keys: dict[TrackClass, ContentKey],
    cues: int,
    renditions: list[c.RenditionInfo],
) -> list[str]:
    prefix = pkg.origin_prefix
    reps = pkg.representations
    out: list[str] = []
    last_start = SUB_EVERY_S / 2 + (cues - 1) * SUB_EVERY_S
    last_end = last_start + 2.5
    assert last_start >= TITLE_S - SUB_EVERY_S
    want_segments = math.ceil(TITLE_S / SEGMENT_S)
    videos = [r for r in reps if r["kind"] == "video"]
    assert videos
    for rep in reps:
        text = store.get_bytes(f"{prefix}/{rep['playlist']}").decode()
        init, segments, extinf = _media_playlist(text)
        if rep["kind"] == "text":
            # The text stream ends with its last cue, not with the title.
            assert last_end <= sum(extinf) <= TITLE_S + SEGMENT_S, (rep["name"], sum(extinf))
            continue
        # Video segments are exactly 6 s (3 closed 2 s GOPs); audio may drift by a frame.
        slack = 0 if rep["kind"] == "video" else 1
        assert abs(len(segments) - want_segments) <= slack, (rep["name"], len(segments))
        assert abs(sum(extinf) - TITLE_S) < 0.5, (rep["name"], sum(extinf))
        out.append(f"{rep['name']} {len(segments)} segments")

    # The last cue (about 2:00:00 in) made it into the packaged subtitles.
    stamp = format_timestamp(last_start)
    last_cue = f"Cue {cues} at {stamp.replace('.', ',')}"
    sub_rep = next(r for r in reps if r["kind"] == "text")
    _, sub_segments, _ = _media_playlist(
        store.get_bytes(f"{prefix}/{sub_rep['playlist']}").decode()
    )
    base = str(sub_rep["playlist"]).rsplit("/", 1)[0] if "/" in str(sub_rep["playlist"]) else ""
    tail = "".join(
        store.get_bytes(f"{prefix}/{base + '/' if base else ''}{s}").decode()
        for s in sub_segments[-3:]
    )
    assert last_cue in tail, tail[-400:]
    assert f"{stamp} --> {format_timestamp(last_end)}" in tail, tail[-400:]
    out.append(f"last cue {last_cue!r} in the last subtitle segments")

    # Trick play: 8 sheets of 10x10 at the long-title interval, cues to the end.
    interval = default_interval(TITLE_S)
    thumbs_vtt = pkg.artwork["thumbnails"][0]
    vtt = store.get_bytes(f"{prefix}/{thumbs_vtt}").decode()
    sheets = {line.split("#", 1)[0] for line in vtt.splitlines() if "#xywh=" in line}
    tiles = sum(1 for line in vtt.splitlines() if "#xywh=" in line)
    assert tiles == math.ceil(TITLE_S / interval), (tiles, interval)
    assert len(sheets) == math.ceil(tiles / 100), sheets
    assert vtt.rstrip().splitlines()[-2].endswith(f"--> {format_timestamp(TITLE_S)}"), vtt[-200:]
    out.append(f"{tiles} thumbnails every {interval:g} s on {len(sheets)} sprite sheets")

    # It plays: the first and the last segment of the smallest video rung decrypt and
    # decode to the clear rendition's frames at the same place.
    rung = min(videos, key=lambda r: int(r["height"] or 0))
    root = settings.resolved_store_root / prefix
    text = (root / str(rung["playlist"])).read_text()
    init, segments, extinf = _media_playlist(text)
    base_dir = (root / str(rung["playlist"])).parent
    track_class = TrackClass(str(rung["track_class"]))
    key = keys[track_class]
    clear = next(
        settings.resolved_store_root / r.object_key
        for r in renditions
        if r.kind == "video" and r.height == rung["height"] and r.width == rung["width"]
    )
    for index in (0, len(segments) - 1):
        start_s = sum(extinf[:index])
        got, want = segment_frames(
            base_dir / init,
            base_dir / segments[index],
            clear,
            start_s=start_s,
            kind="video",
            track_class=track_class,
            key=key,
            ffmpeg=vmaf_ffmpeg(settings) or "",
            packager=settings.binary("packager"),
        )
        assert len(got) == SEGMENT_S * FPS, (index, len(got))
        assert got == want, f"segment {index}: decrypted frames differ from the clear rendition"
        out.append(f"segment {index + 1}/{len(segments)} decrypts to {len(got)} clear frames")
    return out


def test_long_master_is_what_the_test_relies_on(tmp_path: Path) -> None:
    """The generator at a few seconds: 5.1 24-bit PCM, MPEG-2 4:2:2, the requested length."""
    from reelflow.media.probe import probe

    settings = Settings(home=tmp_path / "s")
    master = make_long_master(tmp_path / "m.mov", ffmpeg=settings.binary("ffmpeg"), seconds=12)
    info = probe(master, ffprobe=settings.binary("ffprobe"))
    assert info.video is not None and info.video.codec == "mpeg2video"
    assert (info.video.width, info.video.height) == (320, 180)
    assert info.audio and info.audio[0].channels == 6
    assert abs(info.duration_s - 12) < 0.3
    # 6 channels x 3 bytes x 48 kHz: the bytes of a real delivery.
    assert master.stat().st_size > 12 * 6 * 3 * 48000
    subs = tmp_path / "en.srt"
    # Cues at 2 s and 6 s; one at 10 s would run past the end.
    assert write_long_subtitles(subs, seconds=12, every_s=4) == 2
    assert "00:00:06,000 --> 00:00:08,500" in subs.read_text()
    assert "00:00:10,000" not in subs.read_text()
