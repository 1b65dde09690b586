"""Named errors of the packaging package: each message says what failed and on what."""

from __future__ import annotations


class PackagingError(RuntimeError):
    """Base class for every error raised by reelflow.packaging."""


class PackagerInputError(PackagingError, ValueError):
    """The packaging request itself is wrong (missing input file, bad name, no key for a class)."""


class PackagerError(PackagingError):
    """Shaka Packager failed; names the stream it failed on and the packager's own message."""

    def __init__(self, stream: str, message: str, *, returncode: int | None = None) -> None:
        self.stream = stream
        self.packager_message = message
        self.returncode = returncode
        super().__init__(f"packager failed on stream {stream}: {message}")


class CpixError(PackagingError):
    """A CPIX document cannot be built or read (bad certificate, bad MAC, bad structure)."""
