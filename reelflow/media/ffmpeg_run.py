"""Run ffmpeg / ffprobe as subprocesses with argument lists (never a shell).

Errors become named exceptions carrying the tail of stderr. ``run_ffmpeg`` can follow
``-progress pipe:1`` and report the fraction done, which activities turn into heartbeats.

Exception texts name the tool and the step (``step=``), never the argument list, and never
chain ``subprocess.TimeoutExpired`` (whose text is the whole command line): an exception's
cause travels into Temporal failures and workflow history.

Inside an activity (``watchdog.stall_limits``) every run is watched: one that writes no
progress for ``stall_s`` is killed and raises ``FFmpegStalled`` (retryable).
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reelflow.media.errors import FFmpegError, FFmpegTimeout, ProbeError
from reelflow.media.stderr_tail import stderr_tail
from reelflow.media.watchdog import (
    StallLimits,
    StallWatchdog,
    SubprocessStalled,
    current_stall_limits,
    killed_after,
    spawn,
)

STDERR_TAIL_LINES = 20
DEFAULT_PROBE_TIMEOUT_S = 60.0


class FFmpegStalled(FFmpegTimeout, SubprocessStalled):
    """ffmpeg wrote no progress for the stall limit and was killed (a hang, not bad input)."""


def _stalled(tool: str, dog: StallWatchdog, stderr: str) -> FFmpegStalled:
    stall_s = dog.limits.stall_s if dog.limits else 0.0
    return FFmpegStalled(
        f"{tool} made no progress for {stall_s:g} s and was killed",
        stderr_tail=stderr_tail(stderr, lines=STDERR_TAIL_LINES),
    )


@dataclass(frozen=True)
class FFmpegResult:
    stderr: str
    # Media time reached by the output (from -progress), None when progress was not followed.
    out_time_s: float | None


def run_ffmpeg(
    args: list[str],
    *,
    ffmpeg: str,
    duration_s: float | None = None,
    on_progress: Callable[[float], None] | None = None,
    timeout_s: float | None = None,
    step: str | None = None,
) -> str:
    """Run ``ffmpeg <args>`` and return its stderr text.

    ``args`` exclude the binary; ``-hide_banner -nostdin`` are added. With ``on_progress``
    the output must not be ``pipe:1`` (stdout carries ``-progress``); the callback gets
    out_time / duration_s clamped to [0, 1], and 1.0 once ffmpeg reports the end.
    Raises FFmpegError on a non-zero exit and FFmpegTimeout after ``timeout_s``; their
    texts say ``ffmpeg (<step>)``.
    """
    return run_ffmpeg_detailed(
        args,
        ffmpeg=ffmpeg,
        duration_s=duration_s,
        on_progress=on_progress,
        timeout_s=timeout_s,
        step=step,
    ).stderr


def run_ffmpeg_detailed(
    args: list[str],
    *,
    ffmpeg: str,
    duration_s: float | None = None,
    on_progress: Callable[[float], None] | None = None,
    timeout_s: float | None = None,
    follow_progress: bool = False,
    step: str | None = None,
) -> FFmpegResult:
    """Like ``run_ffmpeg`` but also returns the media time reached (``follow_progress``)."""
    tool = f"ffmpeg ({step})" if step else "ffmpeg"
    if on_progress is None and not follow_progress:
        return FFmpegResult(_run_plain(ffmpeg, args, timeout_s, tool), None)
    return _run_with_progress(ffmpeg, args, duration_s, on_progress, timeout_s, tool)


def _base_cmd(ffmpeg: str) -> list[str]:
    return [ffmpeg, "-hide_banner", "-nostdin"]


def _run_plain(ffmpeg: str, args: list[str], timeout_s: float | None, tool: str) -> str:
    limits = current_stall_limits()
    if limits is not None:
        return _run_plain_watched(ffmpeg, args, timeout_s, tool, limits)
    cmd = [*_base_cmd(ffmpeg), *args]
    try:
        proc = subprocess.run(
            cmd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout_s,
            check=False,
        )
    except FileNotFoundError:
        raise _not_found(tool, ffmpeg) from None
    except subprocess.TimeoutExpired as exc:
        stderr = _decode(exc.stderr)
        raise FFmpegTimeout(
            f"{tool} timed out after {timeout_s} s",
            stderr_tail=stderr_tail(stderr, lines=STDERR_TAIL_LINES),
        ) from None
    stderr = _decode(proc.stderr)
    if proc.returncode != 0:
        raise FFmpegError(
            f"{tool} exited with code {proc.returncode}",
            stderr_tail=stderr_tail(stderr, lines=STDERR_TAIL_LINES),
            returncode=proc.returncode,
        )
    return stderr


def _run_plain_watched(
    ffmpeg: str, args: list[str], timeout_s: float | None, tool: str, limits: StallLimits
) -> str:
    """A plain run whose liveness is its ``-progress`` file: ffmpeg appends a block about
    every 0.5 s whatever the log level, and stdout stays free for the caller's output."""
    with tempfile.TemporaryDirectory(prefix="reelflow-ff-") as private:
        progress = Path(private) / "progress"
        progress.touch()
        cmd = [*_base_cmd(ffmpeg), "-progress", str(progress), *args]
        with tempfile.TemporaryFile() as err_file:
            proc = spawn(
                cmd, stdout=subprocess.DEVNULL, stderr=err_file, not_found=_not_found(tool, ffmpeg)
            )
            timed_out = False
            with StallWatchdog(proc, limits, probe=lambda: progress.stat().st_size) as dog:
                try:
                    returncode = proc.wait(timeout=timeout_s)
                except subprocess.TimeoutExpired:
                    timed_out = True
                    proc.kill()
                    returncode = proc.wait()
            err_file.seek(0)
            stderr = _decode(err_file.read())
    if dog.stalled:
        raise _stalled(tool, dog, stderr)
    _raise_if_failed(tool, returncode, stderr, timed_out=timed_out, timeout_s=timeout_s)
    return stderr


def _not_found(tool: str, ffmpeg: str) -> FFmpegError:
    return FFmpegError(f"{tool}: binary not found: {ffmpeg}")


def _decode(data: bytes | str | None) -> str:
    if data is None:
        return ""
    if isinstance(data, str):
        return data
    return data.decode("utf-8", errors="replace")


def _parse_out_time(key: str, value: str) -> float | None:
    """Seconds from one ``-progress`` line; ``out_time_us`` and ``out_time_ms`` are both µs."""
    if key in ("out_time_us", "out_time_ms"):
        try:
            return int(value) / 1_000_000
        except ValueError:
            return None  # "N/A" before the first frame
    return None


def _run_with_progress(
    ffmpeg: str,
    args: list[str],
    duration_s: float | None,
    on_progress: Callable[[float], None] | None,
    timeout_s: float | None,
    tool: str,
) -> FFmpegResult:
    cmd = [*_base_cmd(ffmpeg), "-progress", "pipe:1", "-nostats", *args]
    # stderr goes to a temp file so a chatty ffmpeg can never block on a full pipe
    # while we read stdout.
    with tempfile.TemporaryFile() as err_file:
        proc = spawn(
            cmd, stdout=subprocess.PIPE, stderr=err_file, not_found=_not_found(tool, ffmpeg)
        )
        reader = _ProgressReader(duration_s, on_progress)
        # Every -progress line is a sign of life (a block comes about every 0.5 s).
        dog = StallWatchdog(proc, current_stall_limits())
        with killed_after(proc, timeout_s) as timed_out:
            assert proc.stdout is not None
            with dog:
                for raw in proc.stdout:
                    dog.alive()
                    reader.line(raw)
                returncode = proc.wait()
        err_file.seek(0)
        stderr = _decode(err_file.read())
    if dog.stalled:
        raise _stalled(tool, dog, stderr)
    _raise_if_failed(tool, returncode, stderr, timed_out=timed_out.is_set(), timeout_s=timeout_s)
    return FFmpegResult(stderr, reader.out_time)


class _ProgressReader:
    """Follows ffmpeg's ``-progress`` lines: the last ``out_time`` and the share done."""

    def __init__(self, duration_s: float | None, on_progress: Callable[[float], None] | None):
        self.duration_s = duration_s
        self.on_progress = on_progress
        self.out_time: float | None = None
        self.last_reported = -1.0

    def line(self, raw: bytes) -> None:
        key, _, value = raw.decode("ascii", errors="replace").strip().partition("=")
        seconds = _parse_out_time(key, value)
        if seconds is not None:
            self.out_time = seconds
            if self.on_progress is not None and self.duration_s:
                fraction = min(max(seconds / self.duration_s, 0.0), 1.0)
                # Progress blocks come every ~0.5 s; only report real movement.
                if fraction - self.last_reported >= 0.001:
                    self.last_reported = fraction
                    self.on_progress(fraction)
        elif key == "progress" and value == "end" and self.on_progress is not None:
            self.on_progress(1.0)


def _raise_if_failed(
    tool: str, returncode: int, stderr: str, *, timed_out: bool, timeout_s: float | None
) -> None:
    if timed_out:
        raise FFmpegTimeout(
            f"{tool} timed out after {timeout_s} s",
            stderr_tail=stderr_tail(stderr, lines=STDERR_TAIL_LINES),
        )
    if returncode != 0:
        raise FFmpegError(
            f"{tool} exited with code {returncode}",
            stderr_tail=stderr_tail(stderr, lines=STDERR_TAIL_LINES),
            returncode=returncode,
        )


def run_ffprobe_json(
    args: list[str],
    *,
    ffprobe: str,
    timeout_s: float = DEFAULT_PROBE_TIMEOUT_S,
    step: str | None = None,
) -> dict[str, Any]:
    """Run ``ffprobe -v error -print_format json <args>`` and return the parsed JSON.

    Raises ProbeError when ffprobe fails or prints something that is not a JSON object.
    """
    tool = f"ffprobe ({step})" if step else "ffprobe"
    cmd = [ffprobe, "-hide_banner", "-v", "error", "-print_format", "json", *args]
    try:
        proc = subprocess.run(
            cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout_s, check=False
        )
    except FileNotFoundError:
        raise ProbeError(f"{tool}: binary not found: {ffprobe}") from None
    except subprocess.TimeoutExpired:
        raise ProbeError(f"{tool} timed out after {timeout_s} s") from None
    stderr = stderr_tail(_decode(proc.stderr), lines=5)
    if proc.returncode != 0:
        raise ProbeError(stderr or f"{tool} exited with code {proc.returncode}")
    try:
        data = json.loads(_decode(proc.stdout) or "{}")
    except json.JSONDecodeError as exc:
        raise ProbeError(f"ffprobe printed invalid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ProbeError("ffprobe printed JSON that is not an object")
    return data
