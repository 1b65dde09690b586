"""MediaActivities: what a media worker registers, under the names histories record, and
the rules the media activities share (media_support)."""

from __future__ import annotations

import os
import socket

import pytest
from temporalio import activity
from temporalio.exceptions import ApplicationError

from reelflow.activities.deps import Deps
from reelflow.activities.media_activities import MediaActivities
from reelflow.activities.media_support import bad_input_is_final, worker_identity
from reelflow.media.errors import FFmpegError, MediaError


def test_registers_the_eight_media_activities_under_their_wire_names() -> None:
    deps = Deps.__new__(Deps)  # all() only collects bound methods
    names = [activity._Definition.must_from_callable(fn).name for fn in MediaActivities(deps).all()]
    assert names == [
        "ingest_master",
        "run_qc",
        "analyse_ladder",
        "encode_chunk",
        "join_renditions",
        "encode_audio",
        "prepare_subtitles",
        "make_thumbnails",
    ]


def test_bad_input_is_final_but_a_failed_ffmpeg_run_is_retried() -> None:
    with pytest.raises(ApplicationError) as bad, bad_input_is_final():
        raise MediaError("not a video")
    assert bad.value.type == "BadMedia" and bad.value.non_retryable
    with pytest.raises(ApplicationError), bad_input_is_final(ValueError):
        raise ValueError("no rungs fit")
    with pytest.raises(FFmpegError), bad_input_is_final():
        raise FFmpegError("ffmpeg exited 1")
    with pytest.raises(KeyError), bad_input_is_final():
        raise KeyError("a bug stays a bug")


def test_worker_identity_is_temporals_default() -> None:
    assert worker_identity() == f"{os.getpid()}@{socket.gethostname()}"
