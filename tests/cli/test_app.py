"""The `reelflow` CLI as a user runs it: real processes, exit codes and messages."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.services import free_port

REELFLOW = str(Path(sys.executable).parent / "reelflow")


def run(*args: str, home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "REELFLOW_HOME": str(home), "COLUMNS": "200", **env}
    return subprocess.run(
        [REELFLOW, *args], capture_output=True, text=True, env=full_env, timeout=60
    )


def test_doctor_lists_binaries_and_passes_without_services(tmp_path: Path) -> None:
    r = run("doctor", "--no-services", home=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    for name in ("ffmpeg", "ffprobe", "packager", "secrets"):
        assert name in r.stdout


def test_doctor_fails_when_services_are_down(tmp_path: Path) -> None:
    port = free_port()
    r = run(
        "doctor",
        home=tmp_path,
        REELFLOW_TEMPORAL_ADDRESS=f"127.0.0.1:{port}",
        REELFLOW_REDIS_URL=f"redis://127.0.0.1:{port}/0",
    )
    assert r.returncode == 1
    assert "MISSING" in r.stdout and "reelflow db upgrade" in r.stdout


def test_db_upgrade_then_doctor_sees_the_schema(tmp_path: Path) -> None:
    assert run("db", "upgrade", home=tmp_path).returncode == 0
    r = run("doctor", home=tmp_path, REELFLOW_TEMPORAL_ADDRESS=f"127.0.0.1:{free_port()}")
    assert "at head" in r.stdout


def test_ingest_validates_before_contacting_anything(tmp_path: Path) -> None:
    clip = tmp_path / "m.mp4"
    clip.write_bytes(b"x")
    cases = {
        ("--id", "Bad Id!", "--name", "n"): "--id",
        ("--id", "ok", "--name", "n", "--window-start", "tomorrow"): "ISO 8601",
        ("--id", "ok", "--name", "n", "--window-start", "2026-01-02T00:00:00"): "UTC offset",
        ("--id", "ok", "--name", "n", "--regions", "USA"): "alpha-2",
        ("--id", "ok", "--name", "n", "--plans", "gold"): "unknown plan",
        ("--id", "ok", "--name", "n", "--subtitles", "english"): "LANG=FILE",
        ("--id", "ok", "--name", "n", "--codecs", "h264,vp9"): "unknown codec 'vp9'",
        ("--id", "ok", "--name", "n", "--codecs", "av1,av1"): "av1 is named twice",
        ("--id", "ok", "--name", "n", "--codecs", " , "): "name at least one",
        ("--id", "ok", "--name", "n", "--codec", "hevc", "--codecs", "h264,av1"): "disagree",
    }
    for extra, message in cases.items():
        r = run("titles", "ingest", str(clip), *extra, home=tmp_path)
        assert r.returncode == 2, (extra, r.stdout, r.stderr)
        assert message in r.stderr.replace("\n", " "), (extra, r.stderr)


def test_status_without_a_server_says_where_it_looked(tmp_path: Path) -> None:
    port = free_port()
    r = run("titles", "status", "x", home=tmp_path, REELFLOW_TEMPORAL_ADDRESS=f"127.0.0.1:{port}")
    assert r.returncode == 2
    assert f"127.0.0.1:{port}" in r.stderr and "dev.sh up" in r.stderr.replace("\n", " ")


def test_unknown_command_is_an_error(tmp_path: Path) -> None:
    r = run("frobnicate", home=tmp_path)
    assert r.returncode != 0 and "No such command" in r.stderr


def test_failed_notifications_are_listed(tmp_path: Path) -> None:
    from reelflow.catalog import titles as q
    from reelflow.catalog.db import make_engine

    assert run("db", "upgrade", home=tmp_path).returncode == 0
    assert "no failed studio notifications" in run("titles", "notifications", home=tmp_path).stdout
    engine = make_engine(f"sqlite:///{tmp_path / 'catalog.db'}")
    q.append_event(
        engine,
        title_id="film",
        event="notification_failed",
        actor="webhooks",
        detail={
            "event": "published",
            "attempts": 6,
            "http_status": 503,
            "error": "gave up",
            "version": 1,
        },
    )
    r = run("titles", "notifications", "film", home=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "published" in r.stdout and "503" in r.stdout and "6" in r.stdout


def test_usage_errors_are_messages_with_exit_2_not_tracebacks(tmp_path: Path) -> None:
    for args, message in ((("nosuch",), "No such command"), (("titles", "approve"), "Missing")):
        r = run(*args, home=tmp_path)
        assert r.returncode == 2, r.stdout + r.stderr
        assert message in r.stderr and "Traceback" not in r.stderr + r.stdout
