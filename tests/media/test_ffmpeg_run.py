"""The stall watchdog of ffmpeg_run: a hung ffmpeg is killed (SIGTERM, then SIGKILL) and the
error is the retryable FFmpegStalled; a working ffmpeg under the same limits is left alone.

A hung ffmpeg is a fault a real ffmpeg can't be made to produce on demand, so a tiny script
that prints ffmpeg's ``-progress`` lines and then sleeps forever stands in for it (and it
ignores SIGTERM, so the SIGKILL after the grace is what ends it).
"""

from __future__ import annotations

import os
import stat
import sys
import time
from pathlib import Path

import pytest

from reelflow.config import get_settings
from reelflow.media.errors import FFmpegError, FFmpegTimeout
from reelflow.media.ffmpeg_run import FFmpegStalled, run_ffmpeg
from reelflow.media.watchdog import StallLimits, SubprocessStalled, stall_limits

STALL_S = 1.0
GRACE_S = 0.5

HUNG_FFMPEG = """\
import os, signal, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a wedged process that won't stop politely
args = sys.argv[1:]
target = args[args.index("-progress") + 1]
out = sys.stdout if target == "pipe:1" else open(target, "w")
for n in range(3):
    out.write(f"frame={n}\\nout_time_us={n * 500000}\\nprogress=continue\\n")
    out.flush()
    time.sleep(0.1)
open(os.environ["HUNG_PIDFILE"], "w").write(str(os.getpid()))
time.sleep(3600)
"""


@pytest.fixture
def hung_ffmpeg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, Path]:
    script = tmp_path / "hung-ffmpeg"
    script.write_text(f"#!{sys.executable}\n{HUNG_FFMPEG}")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    pidfile = tmp_path / "pid"
    monkeypatch.setenv("HUNG_PIDFILE", str(pidfile))
    return str(script), pidfile


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.mark.parametrize("with_progress", [True, False], ids=["progress-pipe", "plain-run"])
def test_a_hung_ffmpeg_is_killed_within_stall_plus_grace(
    hung_ffmpeg: tuple[str, Path], with_progress: bool
) -> None:
    binary, pidfile = hung_ffmpeg
    seen: list[float] = []
    started = time.monotonic()
    with stall_limits(StallLimits(STALL_S, GRACE_S)), pytest.raises(FFmpegStalled) as err:
        run_ffmpeg(
            ["-i", "in.mp4", "out.mp4"],
            ffmpeg=binary,
            duration_s=10.0 if with_progress else None,
            on_progress=seen.append if with_progress else None,
            step="encode chunk 3",
        )
    elapsed = time.monotonic() - started
    # ~0.3 s of output, then STALL_S of silence, then GRACE_S ignoring SIGTERM; slack for load.
    assert STALL_S + GRACE_S <= elapsed + 0.2 < 0.3 + STALL_S + GRACE_S + 2.0
    assert _gone(int(pidfile.read_text()))
    exc = err.value
    assert isinstance(exc, SubprocessStalled) and isinstance(exc, FFmpegTimeout)
    assert "ffmpeg (encode chunk 3) made no progress for 1 s" in str(exc)
    assert "out.mp4" not in str(exc)  # never the argument list
    if with_progress:
        assert seen and seen[-1] == pytest.approx(0.1)


def test_without_limits_nothing_is_watched(tmp_path: Path) -> None:
    # Outside an activity the runner behaves as before: a failing ffmpeg is an FFmpegError,
    # not a stall, and no -progress file is added.
    with pytest.raises(FFmpegError) as err:
        run_ffmpeg(["-i", str(tmp_path / "missing.mp4"), "-f", "null", "-"], ffmpeg="ffmpeg")
    assert not isinstance(err.value, SubprocessStalled)


@pytest.mark.parametrize("with_progress", [True, False], ids=["progress-pipe", "plain-run"])
def test_a_working_ffmpeg_is_not_killed(tmp_path: Path, with_progress: bool) -> None:
    # A real encode paced at real time (-re) for 4 s, four times the stall limit, and quiet
    # at -v error: its progress output alone keeps it alive.
    ffmpeg = get_settings().binary("ffmpeg")
    out = tmp_path / "out.mp4"
    args = ["-v", "error", "-re", "-f", "lavfi", "-i", "testsrc2=d=4:s=320x240:r=25"]
    args += ["-c:v", "libx264", "-preset", "ultrafast", "-y", str(out)]
    seen: list[float] = []
    started = time.monotonic()
    with stall_limits(StallLimits(STALL_S, GRACE_S)):
        run_ffmpeg(
            args,
            ffmpeg=ffmpeg,
            duration_s=4.0 if with_progress else None,
            on_progress=seen.append if with_progress else None,
        )
    assert time.monotonic() - started > 3 * STALL_S  # outlived the stall limit
    assert out.stat().st_size > 10_000
    if with_progress:
        assert seen[-1] == 1.0
