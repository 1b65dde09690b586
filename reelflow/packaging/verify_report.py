"""The verification report: named checks, and running a verification tool so that its
failure names the tool and the step, never the argument list."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from reelflow.media.stderr_tail import stderr_tail

DEFAULT_TIMEOUT_S = 120.0


# Check details are one-line report entries: keep them short.
_STDERR_TAIL_CHARS = 300


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    detail: str = ""


@dataclass
class VerifyReport:
    checks: list[Check] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(c.passed for c in self.checks)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]

    def check(self, name: str) -> Check:
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(name)

    def add(self, name: str, passed: bool, detail: str = "") -> None:
        self.checks.append(Check(name, passed, detail))


class ToolFailed(RuntimeError):
    """A verification tool failed or timed out; the message names the tool and the step."""


def run_tool(
    cmd: Sequence[str], *, step: str, timeout_s: float
) -> subprocess.CompletedProcess[str]:
    tool = Path(cmd[0]).name
    try:
        proc = subprocess.run(
            list(cmd), capture_output=True, text=True, timeout=timeout_s, check=False
        )
    except FileNotFoundError:
        raise ToolFailed(f"{tool} ({step}): binary not found") from None
    except subprocess.TimeoutExpired:
        # `from None`: TimeoutExpired's text is the whole command line.
        raise ToolFailed(f"{tool} ({step}) timed out after {timeout_s:g} s") from None
    if proc.returncode != 0:
        tail = stderr_tail(proc.stderr, chars=_STDERR_TAIL_CHARS)
        raise ToolFailed(f"{tool} ({step}) exit {proc.returncode}: {tail}")
    return proc
