"""What ``LiveChannelWorkflow`` and its activity exchange, and the wire names.

No secrets: the stream key stays sealed in the catalog and is opened by the activity on
the live host. The activity reports the pipeline's state to its workflow by signal
(``CHANNEL_REPORT``), so the workflow's state, its query and its search attribute follow
the channel (idle, live, reconnecting, ended) as the Temporal UI shows them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

RUN_LIVE_CHANNEL = "run_live_channel"
CHANNEL_REPORT = "channel_report"
STOP_CHANNEL = "stop"


@dataclass
class ChannelRun:
    channel_id: str
    live_queue: str  # the task queue of the live hosts (REELFLOW_LIVE_QUEUE when started)


def channel_workflow_id(channel_id: str) -> str:
    return f"channel-{channel_id}"


@dataclass
class ChannelReport:
    """The pipeline as the live host sees it (no stream key)."""

    state: str  # idle, live, reconnecting, ended
    listening: bool = False
    srt_port: int | None = None
    host: str = ""
    connections: int = 0
    last_refusal: str | None = None
    speed: float = 1.0
    late_ticks: int = 0
    frames: dict[str, int] = field(default_factory=dict)


@dataclass
class ChannelRunResult:
    final: ChannelReport
    reason: str  # "stopped", "no encoder within the reconnect window", ...
    recorded_s: float = 0.0  # media time of the recording, remuxed per rung on the live host


@dataclass
class ChannelStatus:
    channel_id: str
    state: str
    report: ChannelReport | None = None
    reason: str = ""
    recorded_s: float = 0.0
