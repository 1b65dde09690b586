"""One channel's real-time pipeline for real: an ffmpeg encoder dials the SRT listener, is
refused with a wrong key, goes live, drops, comes back inside the reconnect window, and
the channel ends when no encoder returns. What players would fetch is then read back:
low-latency DASH and HLS whose segment numbers and media time run on without a reset
across the drop, with the slate on screen while the contribution was away.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from reelflow.live.contribution import SrtListen
from reelflow.live.live_package import DASH_DIR, HLS_DIR, HLS_MASTER_NAME, MPD_NAME, LiveWindow
from reelflow.live.pipeline import LivePipeline, PipelineSpec
from reelflow.live.realtime_encode import LiveRung
from reelflow.live.switcher import Canvas
from tests.services import free_udp_port

KEY = "test-stream-key-0123"
CANVAS = Canvas(320, 180, 25)
RUNGS = (LiveRung(256, 144, 200), LiveRung(320, 180, 300))


def _slate(ffmpeg: str) -> bytes:
    return subprocess.run(
        [ffmpeg, "-v", "error", "-f", "lavfi", "-i", "color=c=navy:size=320x180",
         "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "yuv420p", "pipe:1"],
        capture_output=True, check=True, timeout=30,
    ).stdout  # fmt: skip


def _push(ffmpeg: str, port: int, key: str, seconds: float) -> int:
    """A studio's encoder: test picture and tone over SRT in caller mode, in real time."""
    url = f"srt://127.0.0.1:{port}?mode=caller&passphrase={key}&pbkeylen=16"
    return subprocess.run(
        [ffmpeg, "-v", "error", "-re", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25",
         "-f", "lavfi", "-i", "sine=frequency=440", "-t", str(seconds),
         "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-c:a", "aac",
         "-f", "mpegts", url],
        capture_output=True, timeout=seconds + 30,
    ).returncode  # fmt: skip


def _wait(pred: object, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pred():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError("condition not reached in time")


@pytest.fixture(scope="module")
def channel(
    tmp_path_factory: pytest.TempPathFactory, packager_path: str
) -> Iterator[tuple[LivePipeline, dict[str, int]]]:
    from reelflow.config import get_settings

    ffmpeg = get_settings().binary("ffmpeg")
    port = free_udp_port()
    spec = PipelineSpec(
        canvas=CANVAS, rungs=RUNGS, listen=SrtListen("127.0.0.1", port),
        out=tmp_path_factory.mktemp("live") / "ch", packager=packager_path,
        utc_timing_url="http://127.0.0.1:9/time", slate_frame=_slate(ffmpeg),
        window=LiveWindow(dvr_s=120), reconnect_window_s=4.0, preset="ultrafast",
    )  # fmt: skip
    pipeline = LivePipeline(spec, KEY)
    runner = threading.Thread(target=pipeline.run, daemon=True)
    runner.start()
    try:
        _wait(lambda: pipeline.status.listening, 30)
        rcs = {"wrong": _push(ffmpeg, port, "not-the-stream-key", 2)}
        _wait(lambda: pipeline.status.last_refusal is not None, 20)
        rcs["first"] = _push(ffmpeg, port, KEY, 4)
        _wait(lambda: pipeline.status.state == "reconnecting", 20)
        time.sleep(2.5)  # the slate runs
        _wait(lambda: pipeline.status.listening, 30)  # the next listener is up
        rcs["second"] = _push(ffmpeg, port, KEY, 3)
        runner.join(60)  # ends 4 s after the second drop
        assert not runner.is_alive()
        yield pipeline, rcs
    finally:
        pipeline.stop()
        runner.join(30)


def test_a_wrong_key_is_refused_in_the_handshake_and_named(
    channel: tuple[LivePipeline, dict[str, int]],
) -> None:
    pipeline, rcs = channel
    assert rcs["wrong"] != 0 and rcs["first"] == 0 and rcs["second"] == 0
    assert (
        pipeline.status.last_refusal
        == "wrong stream key: the encoder was refused in the SRT handshake"
    )
    assert KEY not in json.dumps(pipeline.status.__dict__)


def test_the_channel_reconnects_then_ends_after_the_window(
    channel: tuple[LivePipeline, dict[str, int]],
) -> None:
    pipeline, _ = channel
    assert pipeline.status.state == "ended"
    assert pipeline.status.connections == 2
    frames = pipeline.status.frames
    assert frames["live"] > 3 * CANVAS.fps and frames["slate"] > 2 * CANVAS.fps


def _numbers(folder: Path) -> list[int]:
    return sorted(int(p.stem) for p in folder.glob("*.m4s"))


def test_dash_is_low_latency_and_numbering_runs_on_across_the_drop(
    channel: tuple[LivePipeline, dict[str, int]],
) -> None:
    pipeline, _ = channel
    dash = pipeline.spec.out / DASH_DIR
    mpd = (dash / MPD_NAME).read_text()
    assert 'type="dynamic"' in mpd and "availabilityTimeOffset=" in mpd
    assert "UTCTiming" in mpd and "ServiceDescription" in mpd
    for rung in RUNGS:
        numbers = _numbers(dash / rung.name)
        # One packager for the whole life of the channel: a contiguous run of numbers.
        assert len(numbers) >= 6 and numbers == list(range(numbers[0], numbers[-1] + 1))


def _frame_lumas(folder: Path, ffmpeg: str) -> list[float]:
    """Average luma of every frame of a rendition, decoded from init + all segments."""
    joined = folder / "joined.mp4"
    with joined.open("wb") as out:
        out.write((folder / "init.mp4").read_bytes())
        for n in _numbers(folder):
            out.write((folder / f"{n}.m4s").read_bytes())
    run = subprocess.run(
        [ffmpeg, "-v", "error", "-i", str(joined), "-vf",
         "signalstats,metadata=mode=print:key=lavfi.signalstats.YAVG:file=-", "-f", "null", "-"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    return [float(line.split("=")[1]) for line in run.stdout.splitlines() if "YAVG=" in line]


def test_the_slate_fills_the_gap_and_media_time_matches_wall_time(
    channel: tuple[LivePipeline, dict[str, int]],
) -> None:
    from reelflow.config import get_settings

    pipeline, _ = channel
    lumas = _frame_lumas(
        pipeline.spec.out / DASH_DIR / RUNGS[0].name, get_settings().binary("ffmpeg")
    )
    navy = [abs(y - lumas[-1]) < 2 for y in lumas]  # the channel ended on the slate
    # Picture, then at least 2 s of slate, then picture again, then slate to the end.
    runs: list[tuple[bool, int]] = []
    for is_slate in navy:
        if runs and runs[-1][0] == is_slate:
            runs[-1] = (is_slate, runs[-1][1] + 1)
        else:
            runs.append((is_slate, 1))
    pattern = [r for r in runs if r[1] >= CANVAS.fps // 2]
    assert [s for s, _ in pattern][-4:] == [False, True, False, True], runs
    assert pattern[-3][1] >= 2 * CANVAS.fps
    # One frame per tick of the channel's clock, none lost or doubled across the drop
    # (the packager drops at most the unfinished last segment when it stops).
    ticks = sum(pipeline.status.frames.values())
    assert ticks - 3 * CANVAS.fps <= len(lumas) <= ticks


def test_hls_plays_from_its_own_packager_with_whole_segments(
    channel: tuple[LivePipeline, dict[str, int]],
) -> None:
    pipeline, _ = channel
    hls = pipeline.spec.out / HLS_DIR
    master = (hls / HLS_MASTER_NAME).read_text()
    assert "RESOLUTION=256x144" in master and "RESOLUTION=320x180" in master
    playlist = (hls / RUNGS[0].name / "index.m3u8").read_text()
    durations = [
        float(x.split(":")[1].rstrip(",")) for x in playlist.splitlines() if x.startswith("#EXTINF")
    ]
    assert len(durations) >= 4 and all(1.5 <= d <= 2.5 for d in durations[:-1])


def test_the_recording_remuxes_to_one_mp4_per_rung_covering_the_channel(
    channel: tuple[LivePipeline, dict[str, int]],
) -> None:
    from reelflow.config import get_settings
    from reelflow.live.recording import recording_parts, remux_recording

    pipeline, _ = channel
    parts = recording_parts(pipeline.spec.out)
    assert len(parts) == 1
    settings = get_settings()
    made = remux_recording(settings.binary("ffmpeg"), parts[0], RUNGS, pipeline.spec.out / "vod")
    assert [r.name for r in made] == [RUNGS[0].name, RUNGS[1].name, "audio"]
    probe = subprocess.run(
        [settings.binary("ffprobe"), "-v", "error", "-select_streams", "v:0", "-count_packets",
         "-show_entries", "stream=width,height,nb_read_packets", "-of", "json", str(made[0].path)],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    stream = json.loads(probe.stdout)["streams"][0]
    assert (stream["width"], stream["height"]) == (RUNGS[0].width, RUNGS[0].height)
    ticks = sum(pipeline.status.frames.values())
    # Every frame the channel's clock produced is in the recording (the slate included).
    assert ticks - CANVAS.fps <= int(stream["nb_read_packets"]) <= ticks


def test_a_live_workers_start_kills_the_pipeline_processes_a_killed_worker_left(
    tmp_path: Path,
) -> None:
    from reelflow.live.pipeline import sweep_orphans

    root = tmp_path / "live"
    (root / "news").mkdir(parents=True)
    # Stand-ins for an orphaned pipeline's processes: any command naming the channel's folder.
    nap = [sys.executable, "-c", "import time; time.sleep(300)"]
    orphan = subprocess.Popen([*nap, str(root / "news" / ".dash.ts")])
    bystander = subprocess.Popen([*nap, str(tmp_path / "elsewhere")])
    try:
        assert sweep_orphans(root) == 1
        assert orphan.wait(10) == -9
        assert bystander.poll() is None
    finally:
        for p in (orphan, bystander):
            p.kill()
            p.wait()
