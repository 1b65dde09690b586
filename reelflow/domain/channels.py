"""What a live channel is, whatever runs it: its states, its settings and their limits, and
the rule for stream keys.

A channel shares the title id space (``domain.ids``): viewers start it as they start a
title. Its stream key is the encoder's secret: the SRT passphrase (10-79 characters, which
is why keys are 32 URL-safe characters) and the RTMP stream name.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from enum import StrEnum

from reelflow.domain.ids import check_title_id


class ChannelState(StrEnum):
    IDLE = "idle"  # created, ingest listening, no encoder yet
    LIVE = "live"
    RECONNECTING = "reconnecting"  # the encoder dropped; the slate runs
    ENDED = "ended"
    ARCHIVED = "archived"  # the recording is on demand


LATENCY_MODES = ("low", "standard")
MAX_RUNGS = 6
MIN_RUNG_HEIGHT, MAX_RUNG_HEIGHT = 144, 2160
MAX_DVR_S = 6 * 3600
STREAM_KEY_CHARS = 32


class InvalidChannel(ValueError):
    """A channel setting out of bounds; the message names it."""


@dataclass(frozen=True)
class ChannelConfig:
    name: str
    rung_heights: tuple[int, ...] = (240, 360)
    dvr_s: int = 7_200
    latency: str = "low"
    drm: bool = False
    reconnect_window_s: int = 60

    def __post_init__(self) -> None:
        if not self.name.strip() or len(self.name) > 200:
            raise InvalidChannel("name must be 1-200 characters")
        if not 1 <= len(self.rung_heights) <= MAX_RUNGS:
            raise InvalidChannel(f"a channel has 1-{MAX_RUNGS} rungs")
        bad = [h for h in self.rung_heights if not MIN_RUNG_HEIGHT <= h <= MAX_RUNG_HEIGHT or h % 2]
        if bad or len(set(self.rung_heights)) != len(self.rung_heights):
            raise InvalidChannel(
                f"rung heights must be distinct even numbers {MIN_RUNG_HEIGHT}-{MAX_RUNG_HEIGHT}"
            )
        if not 60 <= self.dvr_s <= MAX_DVR_S:
            raise InvalidChannel(f"the DVR window must be 60-{MAX_DVR_S} s")
        if self.latency not in LATENCY_MODES:
            raise InvalidChannel(f"latency must be one of {', '.join(LATENCY_MODES)}")
        if not 5 <= self.reconnect_window_s <= 3600:
            raise InvalidChannel("the reconnect window must be 5-3600 s")


def channel_id(value: object) -> str:
    """A channel id is a title id (one id space)."""
    return check_title_id(value)


def new_stream_key() -> str:
    # token_urlsafe never yields ' or &, which would break the SRT URL.
    return secrets.token_urlsafe(STREAM_KEY_CHARS * 3 // 4)
