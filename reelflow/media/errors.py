"""Named errors for everything under ``reelflow.media``.

Callers (activities) map these to non-retryable failures: they describe bad input or a
broken tool invocation, not a transient fault.
"""

from __future__ import annotations


class MediaError(Exception):
    """Base class for media errors."""


class ProbeError(MediaError):
    """ffprobe could not read the file: it is not media, or it is corrupt or truncated."""


class FFmpegError(MediaError):
    """ffmpeg exited non-zero (or timed out); ``stderr_tail`` holds its last lines."""

    def __init__(self, message: str, *, stderr_tail: str = "", returncode: int | None = None):
        super().__init__(message)
        self.stderr_tail = stderr_tail
        self.returncode = returncode

    def __str__(self) -> str:
        base = super().__str__()
        return f"{base}\n{self.stderr_tail}" if self.stderr_tail else base


class FFmpegTimeout(FFmpegError):
    """ffmpeg ran longer than the allowed time and was killed."""


class SubtitleError(MediaError):
    """A caption file is malformed; the message names the offending line number."""

    def __init__(self, message: str, *, line: int | None = None):
        super().__init__(message)
        self.line = line
