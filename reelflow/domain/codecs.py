"""The video codecs a title's ladders may use: one spelling for the CLI, the studio
ingest body, the workflow contracts and the encoders."""

from __future__ import annotations

from typing import Literal, get_args

VideoCodec = Literal["h264", "hevc", "av1"]
VIDEO_CODECS: tuple[str, ...] = get_args(VideoCodec)
