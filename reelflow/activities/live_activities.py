"""A live channel's pipeline as one long activity on the live queue.

It opens the channel's sealed stream key on this host (the key never travels through
Temporal), takes a free SRT port of the configured range, runs ``live.pipeline`` on a
thread, heartbeats the pipeline's report every second and signals its workflow when the
state changes (so the workflow, its query and the Temporal UI follow the channel). A
cancel (``reelflow live stop``) stops the pipeline and ends the activity; so does an
encoder that stays away past the reconnect window.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from temporalio import activity
from temporalio.client import WorkflowHandle

from reelflow.activities.deps import Deps
from reelflow.catalog.live_channels import get_channel
from reelflow.lifecycle import activity_defs as defs
from reelflow.lifecycle import live_channels as lv
from reelflow.lifecycle.activity_defs import implements
from reelflow.live.channels import config_of, open_stream_key
from reelflow.live.contribution import SrtListen, udp_port_bound
from reelflow.live.live_package import LiveWindow
from reelflow.live.pipeline import LivePipeline, PipelineSpec
from reelflow.live.realtime_encode import LiveRung
from reelflow.live.recording import probe_duration_s, recording_parts, remux_recording
from reelflow.live.slate import slate_frame
from reelflow.live.switcher import Canvas

REPORT_EVERY_S = 1.0
RESIGNAL_EVERY_S = 60.0  # a signal even without a change, so speed figures stay fresh


class NoFreeIngestPort(RuntimeError):
    """Every port of the live range is taken on this host."""


def _rung(height: int) -> LiveRung:
    width = (height * 16 // 9 + 1) // 2 * 2
    # About 0.1 bit per pixel at 30 frames/s: the VOD ladder's density for H.264.
    return LiveRung(width, height, max(200, width * height * 3 // 1000))


class LiveActivities:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    def all(self) -> list[Callable[..., Any]]:
        return [self.run_live_channel]

    def _free_port(self) -> int:
        s = self.deps.settings
        for port in range(s.live_port_first, s.live_port_first + s.live_port_count):
            if not udp_port_bound(port):
                return port
        raise NoFreeIngestPort(
            f"ports {s.live_port_first}-{s.live_port_first + s.live_port_count - 1} are all taken"
        )

    def _spec(self, channel_id: str) -> tuple[PipelineSpec, str]:
        s = self.deps.settings
        config = config_of(get_channel(self.deps.engine, channel_id))
        heights = sorted(h for h in config.rung_heights if h <= s.live_max_height)
        if not heights:
            heights = [min(config.rung_heights)]  # the smallest rung always runs
        canvas = Canvas(_rung(heights[-1]).width, heights[-1], s.live_frame_rate)
        spec = PipelineSpec(
            canvas=canvas,
            rungs=tuple(_rung(h) for h in heights),
            listen=SrtListen(s.live_ingest_host, self._free_port()),
            out=s.home / "live" / channel_id,
            packager=s.binary("packager"),
            utc_timing_url=f"{s.resolved_public_base_url}/v1/time",
            slate_frame=slate_frame(s.binary("ffmpeg"), canvas),
            window=LiveWindow(dvr_s=config.dvr_s),
            reconnect_window_s=float(config.reconnect_window_s),
        )
        return spec, open_stream_key(s, self.deps.engine, channel_id)

    def _report(self, pipeline: LivePipeline) -> lv.ChannelReport:
        st, spec = pipeline.status, pipeline.spec
        return lv.ChannelReport(
            state=st.state, listening=st.listening, srt_port=spec.listen.port,
            host=self.deps.settings.live_public_host or spec.listen.host,
            connections=st.connections, last_refusal=st.last_refusal, speed=round(st.speed, 3),
            late_ticks=st.late_ticks, frames=dict(st.frames),
        )  # fmt: skip

    @implements(defs.run_live_channel)
    async def run_live_channel(self, req: lv.ChannelRun) -> lv.ChannelRunResult:
        spec, key = await asyncio.to_thread(self._spec, req.channel_id)
        pipeline = LivePipeline(spec, key)
        del key
        runner = threading.Thread(target=pipeline.run, name=f"live-{req.channel_id}", daemon=True)
        runner.start()
        info = activity.info()
        assert info.workflow_id is not None  # started by LiveChannelWorkflow, never standalone
        workflow = activity.client().get_workflow_handle(info.workflow_id)
        reason = "no encoder came back within the reconnect window"
        try:
            await self._watch(pipeline, runner, workflow)
        except asyncio.CancelledError:
            # `reelflow live stop`: end cleanly and report, so the recording is counted.
            reason = "stopped"
        finally:
            pipeline.stop()
            await asyncio.to_thread(runner.join, 30)
        recorded_s = await asyncio.to_thread(self._remux_recordings, spec)
        final = replace(self._report(pipeline), state="ended", listening=False)
        return lv.ChannelRunResult(final, reason, recorded_s)

    async def _watch(
        self, pipeline: LivePipeline, runner: threading.Thread, workflow: WorkflowHandle[Any, Any]
    ) -> None:
        """Heartbeat every second; signal the workflow on each change of state."""
        sent: lv.ChannelReport | None = None
        since_signal = 0.0
        while runner.is_alive():
            report = self._report(pipeline)
            activity.heartbeat(report)
            if sent is None or _changed(sent, report) or since_signal >= RESIGNAL_EVERY_S:
                await workflow.signal(lv.CHANNEL_REPORT, report)
                sent, since_signal = report, 0.0
            await asyncio.sleep(REPORT_EVERY_S)
            since_signal += REPORT_EVERY_S

    def _remux_recordings(self, spec: PipelineSpec) -> float:
        """Each recording part as one MP4 per rung under ``vod/<part>/``, ready for the VOD
        packaging path; returns the recorded media time (seconds)."""
        total = 0.0
        for part in recording_parts(spec.out):
            made = remux_recording(self.deps.ffmpeg, part, spec.rungs, spec.out / "vod" / part.stem)
            total += probe_duration_s(self.deps.ffprobe, made[0].path)
        return round(total, 3)


def _changed(a: lv.ChannelReport, b: lv.ChannelReport) -> bool:
    keys = ("state", "listening", "connections", "last_refusal")
    return any(getattr(a, k) != getattr(b, k) for k in keys)
