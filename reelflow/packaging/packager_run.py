"""Running Shaka Packager: raw keys in a flag file that exists only in memory, a stall
watchdog, and errors that name the failing stream without echoing a key or the argument list.

The keys reach the packager as ``--flagfile=/proc/self/fd/<n>``: an anonymous memory file
(memfd) the child inherits and nothing else can reach, gone with the last process holding
it. A file on disk (the old way, ``keys.*.flags`` under ``reelflow-pkg-*``) lived for the
whole run and outlived a SIGKILL; ``sweep_key_files`` removes any such leftover when a
media worker starts.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
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


@dataclass(frozen=True)
class KeyFlags:
    """The keys' flag file for one packager run: pass ``arg`` and ``pass_fds``."""

    fd: int

    @property
    def arg(self) -> str:
        return f"--flagfile=/proc/self/fd/{self.fd}"

    @property
    def pass_fds(self) -> tuple[int, ...]:
        return (self.fd,)


@contextmanager
def key_flags(
    keys: Mapping[TrackClass, ContentKey],
    *,
    purpose: Literal["encryption", "decryption"] = "encryption",
) -> Iterator[KeyFlags]:
    """The raw keys as a packager flag file in memory only, so they are never on a command
    line or a disk; closed when the block ends.

    ``decryption`` is verification's use: the packager decrypts a sample segment.
    """
    spec = ",".join(
        f"label={tc.value}:key_id={k.kid.hex()}:key={k.key.hex()}"
        for tc, k in sorted(keys.items(), key=lambda item: item[0].value)
    )
    # Close-on-exec: only a child given it in pass_fds inherits it (at the same number,
    # which is what /proc/self/fd/<n> names in the child).
    fd = os.memfd_create("reelflow-keys", os.MFD_CLOEXEC)
    try:
        os.write(fd, f"--enable_raw_key_{purpose}\n--keys={spec}\n".encode())
        yield KeyFlags(fd)
    finally:
        os.close(fd)


def sweep_key_files(root: Path | None = None) -> int:
    """Remove ``keys.*.flags`` left in ``reelflow-pkg-*`` folders by earlier releases (a
    killed run kept them); returns how many. No release writes them any more."""
    base = Path(root or tempfile.gettempdir())
    removed = 0
    for leftover in base.glob("reelflow-pkg-*/keys.*.flags"):
        with contextlib.suppress(FileNotFoundError):
            leftover.unlink()
            removed += 1
    return removed


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
    pass_fds: tuple[int, ...] = (),
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
            pass_fds=pass_fds,
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
