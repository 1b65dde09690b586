"""Running Shaka Packager: raw keys in a 0600 flag file, a stall watchdog, and errors that
name the failing stream without echoing a key or the argument list."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

from reelflow.domain.content_keys import ContentKey
from reelflow.domain.track_classes import TrackClass
from reelflow.media.watchdog import (
    StallWatchdog,
    SubprocessStalled,
    current_stall_limits,
    spawn,
)
from reelflow.packaging.errors import PackagerError
from reelflow.packaging.streams import PlannedStream


def write_key_flagfile(
    keys: Mapping[TrackClass, ContentKey],
    directory: Path,
    *,
    purpose: Literal["encryption", "decryption"] = "encryption",
) -> Path:
    """A 0600 flag file holding the raw keys, so they never appear on a command line.

    ``decryption`` is verification's use: the packager decrypts a sample segment.
    """
    spec = ",".join(
        f"label={tc.value}:key_id={k.kid.hex()}:key={k.key.hex()}"
        for tc, k in sorted(keys.items(), key=lambda item: item[0].value)
    )
    fd, name = tempfile.mkstemp(prefix="keys.", suffix=".flags", dir=directory)
    with os.fdopen(fd, "w") as fh:
        fh.write(f"--enable_raw_key_{purpose}\n--keys={spec}\n")
    return Path(name)


# glog line: E1124 09:32:03.848467    6890 packager_main.cc:629] message
_GLOG = re.compile(r"^([IWEF])\d{4} [\d:.]+\s+(\d+) [^\]]+\] (.*)$")


_DEMUX_RUN = re.compile(r"Demuxer::Run\(\) on file '(.*)'")


# The packager echoes a flag it cannot parse ("Failed to parse --keys label=..:key=<hex>"):
# raw keys must not reach an exception, so anything after --keys and every key= is redacted.
_KEY_TEXT = re.compile(r"(--keys[= ]|\bkey=)\S+")


def _redact_keys(text: str) -> str:
    return _KEY_TEXT.sub(r"\1<redacted>", text)


def _error_for(stderr: str, streams: Sequence[PlannedStream], returncode: int) -> PackagerError:
    """Name the failing stream: by a file path in an error line, else by the failing thread."""
    thread_file: dict[str, str] = {}
    errors: list[tuple[str, str]] = []
    for line in stderr.splitlines():
        m = _GLOG.match(line.strip())
        if not m:
            continue
        level, thread, msg = m.groups()
        run = _DEMUX_RUN.search(msg)
        if run:
            thread_file[thread] = run.group(1)
        elif level in "EF":
            errors.append((thread, msg))
    message = "; ".join(msg for _, msg in errors) or stderr.strip()[-500:] or f"exit {returncode}"
    message = _redact_keys(message)
    culprit: PlannedStream | None = None
    for thread, msg in errors:
        for s in streams:
            if s.source in msg or thread_file.get(thread) == s.source:
                culprit = s
                break
        if culprit:
            break
    stream = culprit.describe() if culprit else "(all streams)"
    return PackagerError(stream, message, returncode=returncode)


def run_packager(
    packager: str,
    args: Sequence[str],
    *,
    cwd: Path,
    streams: Sequence[PlannedStream],
    timeout: float | None = None,
    step: str = "package",
) -> None:
    """Errors name the tool, the step and the stream, never the argument list.

    Inside an activity (``stall_limits``) a run whose log and output under ``cwd`` stop
    growing for the stall limit is killed and raises ``PackagerStalled`` (retryable).
    """
    with tempfile.TemporaryFile() as err_file:
        proc = spawn(
            [packager, *args],
            cwd=cwd,
            stdout=subprocess.DEVNULL,
            stderr=err_file,
            not_found=PackagerError("(all streams)", f"packager binary not found: {packager}"),
        )

        def written() -> tuple[int, int]:
            # The packager logs little, but writes segments as it goes.
            return os.fstat(err_file.fileno()).st_size, _tree_bytes(cwd)

        with StallWatchdog(proc, current_stall_limits(), probe=written) as dog:
            try:
                returncode = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                # `from None`: TimeoutExpired's text is the whole command line.
                raise PackagerError(
                    "(all streams)", f"{step} timed out after {timeout:g} s"
                ) from None
        err_file.seek(0)
        stderr = err_file.read().decode("utf-8", errors="replace")
    if dog.stalled:
        stall_s = dog.limits.stall_s if dog.limits else 0.0
        raise PackagerStalled(
            "(all streams)", f"{step} made no progress for {stall_s:g} s and was killed"
        )
    if returncode != 0:
        raise _error_for(stderr, streams, returncode)


class PackagerStalled(PackagerError, SubprocessStalled):
    """The packager wrote nothing for the stall limit and was killed (a hang, not bad input)."""


def _tree_bytes(root: Path) -> int:
    total = 0
    stack = [root]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(Path(entry.path))
                elif entry.is_file(follow_symlinks=False):
                    with contextlib.suppress(FileNotFoundError):  # renamed while we looked
                        total += entry.stat(follow_symlinks=False).st_size
    return total
