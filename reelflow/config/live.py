"""Live channel settings (REELFLOW_LIVE_*), composed into the one ``Settings``.

Ports: each running channel's SRT listener takes a free port of the range on its live host;
the host encoders dial is ``live_public_host`` (the live host's own address by default).
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class LiveSettings(BaseModel):
    live_queue: str = "reelflow-live"
    # Where a live host's SRT listeners bind, and the address printed for encoders.
    live_ingest_host: str = "127.0.0.1"
    live_public_host: str | None = None
    live_port_first: int = Field(default=40_100, ge=1024, le=65_000)
    live_port_count: int = Field(default=100, ge=1, le=1000)
    # The tallest rung this host encodes in real time (bench/live_realtime.py measures it):
    # taller rungs of a channel's ladder are left out on this host.
    live_max_height: int = Field(default=480, ge=144, le=2160)
    live_frame_rate: int = Field(default=30, ge=10, le=60)
    # Channels one live worker runs at once (each encodes its rungs in real time).
    live_max_channels: int = Field(default=2, ge=1, le=64)
