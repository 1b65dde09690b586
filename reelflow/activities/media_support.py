"""What the media-queue activities share: their base (deps, rendition rows), progress
callbacks, the worker's identity and the rule that bad input is a final error."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict

from temporalio.exceptions import ApplicationError

from reelflow.activities.deps import Deps
from reelflow.activities.heartbeat import current_progress
from reelflow.catalog import assets as catalog_assets
from reelflow.catalog.models import Rendition
from reelflow.lifecycle import contracts as c
from reelflow.media.errors import FFmpegError, MediaError


def stage_progress(stage: str) -> Callable[[float], None]:
    """A media function's ``on_progress`` (a fraction done) reported as ``stage``."""
    return current_progress().fraction(stage)


def worker_identity() -> str:
    """This process as Temporal names its workers by default (the history's identity)."""
    return f"{os.getpid()}@{socket.gethostname()}"


def bad_media(exc: Exception) -> ApplicationError:
    return ApplicationError(str(exc), type="BadMedia", non_retryable=True)


@contextmanager
def bad_input_is_final(*also: type[Exception]) -> Iterator[None]:
    """A media error about the input (or one of ``also``) can't be fixed by a retry: make it
    a non-retryable BadMedia. A failed ffmpeg run may be transient and stays retryable."""
    final: tuple[type[Exception], ...] = (MediaError, *also)
    try:
        yield
    except FFmpegError:
        raise
    except final as exc:
        raise bad_media(exc) from exc


class MediaActivityBase:
    """The deps every media activity class holds, and the rendition rows they write."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    def _record(self, title_id: str, version: int, info: c.RenditionInfo) -> None:
        catalog_assets.upsert_rendition(
            self.deps.engine,
            Rendition(title_id=title_id, version=version, **asdict(info)),
        )
