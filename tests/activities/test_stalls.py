"""A hung packager inside an activity: killed by the stall watchdog (SIGTERM, then SIGKILL
after the grace) and reported as the retryable ``SubprocessStalled``.

A hung Shaka Packager can't be produced on demand, so a stand-in script writes a segment
and a log line, as the packager does, then sleeps forever ignoring SIGTERM.
"""

from __future__ import annotations

import os
import stat
import sys
import time
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from reelflow.activities.deps import Deps
from reelflow.activities.heartbeat import auto_heartbeat
from reelflow.config import Settings
from reelflow.packaging.packager_run import PackagerStalled, run_packager

HUNG_PACKAGER = """\
import os, signal, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
for n in range(3):
    open(f"seg{n}.m4s", "wb").write(b"x" * 1000)
    sys.stderr.write(f"I0101 00:00:00.000000  1 muxer.cc:1] segment {n}\\n")
    sys.stderr.flush()
    time.sleep(0.1)
open(os.environ["HUNG_PIDFILE"], "w").write(str(os.getpid()))
time.sleep(3600)
"""


class Packages:
    def __init__(self, deps: Deps, binary: str, out: Path) -> None:
        self.deps, self.binary, self.out = deps, binary, out

    @auto_heartbeat
    def package(self) -> None:
        run_packager(self.binary, ["in=a.mp4,stream=video,output=v.mp4"], cwd=self.out, streams=())


def test_a_hung_packager_is_killed_and_the_activity_fails_retryably(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = tmp_path / "hung-packager"
    script.write_text(f"#!{sys.executable}\n{HUNG_PACKAGER}")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    pidfile = tmp_path / "pid"
    monkeypatch.setenv("HUNG_PIDFILE", str(pidfile))
    out = tmp_path / "out"
    out.mkdir()
    settings = Settings(
        home=tmp_path / "state", subprocess_stall_s=1.0, subprocess_kill_grace_s=0.5
    )
    activities = Packages(Deps(settings, None, None), str(script), out)  # type: ignore[arg-type]

    started = time.monotonic()
    with pytest.raises(ApplicationError) as err:
        ActivityEnvironment().run(activities.package)
    elapsed = time.monotonic() - started
    assert 1.5 <= elapsed + 0.2 < 0.3 + 1.5 + 2.0  # segments, stall, ignored SIGTERM, slack
    with pytest.raises(ProcessLookupError):
        os.kill(int(pidfile.read_text()), 0)
    assert err.value.type == "SubprocessStalled" and not err.value.non_retryable
    assert "package made no progress for 1 s" in str(err.value)
    assert "in=a.mp4" not in str(err.value)  # never the argument list


def test_outside_an_activity_the_packager_is_not_watched(tmp_path: Path) -> None:
    # No limits, no watchdog: a quick failing run is the packager's own error.
    script = tmp_path / "failing-packager"
    script.write_text(f"#!{sys.executable}\nimport sys\nsys.exit(3)\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    from reelflow.packaging.errors import PackagerError

    with pytest.raises(PackagerError) as err:
        run_packager(str(script), [], cwd=tmp_path, streams=())
    assert not isinstance(err.value, PackagerStalled) and err.value.returncode == 3
