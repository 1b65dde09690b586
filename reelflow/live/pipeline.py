"""One channel's real-time pipeline on one host: listener and decoder (restarted for each
connection), the switcher's clock, the encoder, and the live packager, with the channel's
state as the pipeline sees it.

States: ``idle`` until the first connection, ``live`` while contribution frames arrive,
``reconnecting`` once they stop (the slate runs) and ``ended`` when no encoder came back
within the reconnect window or ``stop`` was called. Processes are started in the order
that lets each find its input ready (packager on the FIFO, then the encoder, then the
clock) and stopped in the reverse order; everything is killed on the way out, also on error.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from reelflow.domain.channels import ChannelState
from reelflow.live.contribution import (
    DecoderRun,
    SrtListen,
    reason_from_stderr,
    start_decoder,
    udp_port_bound,
)
from reelflow.live.live_package import (
    LiveEncryption,
    LiveWindow,
    dash_packager_args,
    hls_packager_args,
)
from reelflow.live.realtime_encode import LiveRung, encoder_args
from reelflow.live.recording import new_recording_path
from reelflow.live.switcher import Canvas, ContributionFeed, Source, Switcher, TickClock

PIPE_BYTES = 1 << 20  # a whole raw frame fits, so one tick's write seldom blocks
_F_SETPIPE_SZ = 1031


class LivePipelineError(RuntimeError):
    """A stage of the pipeline died; the channel cannot go on on this host."""


@dataclass(frozen=True)
class PipelineSpec:
    canvas: Canvas
    rungs: tuple[LiveRung, ...]
    listen: SrtListen
    out: Path
    packager: str
    utc_timing_url: str
    slate_frame: bytes
    window: LiveWindow = field(default_factory=LiveWindow)
    reconnect_window_s: float = 60.0
    loss_after_s: float = 1.0
    encryption: LiveEncryption | None = None
    preset: str = "veryfast"
    # Keep the whole encode as an MPEG-TS under out/recordings (the DVR window deletes old
    # segments; the recording is what goes on demand when the channel ends).
    record: bool = True


@dataclass
class PipelineStatus:
    state: str = ChannelState.IDLE
    listening: bool = False  # a listener is up and waiting for an encoder
    connections: int = 0
    last_refusal: str | None = None
    speed: float = 1.0
    late_ticks: int = 0
    frames: dict[str, int] = field(default_factory=dict)


def _widen(fd: int) -> None:
    with contextlib.suppress(OSError):  # older kernels cap it; a smaller pipe still works
        import fcntl

        fcntl.fcntl(fd, _F_SETPIPE_SZ, PIPE_BYTES)


class LivePipeline:
    def __init__(self, spec: PipelineSpec, passphrase: str) -> None:
        self.spec = spec
        self._passphrase = passphrase
        self.feed = ContributionFeed(spec.canvas)
        self.switcher = Switcher(self.feed, spec.slate_frame, loss_after_s=spec.loss_after_s)
        self.status = PipelineStatus()
        self._stop = threading.Event()
        self._ended = threading.Event()
        self._decoder: DecoderRun | None = None

    # ---- contribution -----------------------------------------------------------------

    def _listen_loop(self) -> None:
        deadline: float | None = None
        while not self._stop.is_set():
            run = start_decoder(self.spec.listen, self._passphrase, self.feed)
            self._decoder = run
            while run.process.poll() is None and not self._stop.is_set():
                self._note_refusal(run)
                self.status.listening = not run.frames and udp_port_bound(self.spec.listen.port)
                if run.frames and self.status.state != ChannelState.LIVE:
                    self.status.state, deadline = ChannelState.LIVE, None
                    self.status.connections += 1
                if run.frames and self._contribution_silent():
                    # Hung up without a goodbye (or SRT has yet to notice): end this
                    # decoder now so the next listener is up while the slate runs.
                    run.process.kill()
                if deadline is not None and time.monotonic() > deadline and not run.frames:
                    run.process.kill()  # nobody came back: close the listener, end
                    self._ended.set()
                    return
                time.sleep(0.05)
            self.status.listening = False
            reason = run.wait()
            if reason:
                self.status.last_refusal = reason
            if run.frames:
                self.status.state = ChannelState.RECONNECTING
                deadline = time.monotonic() + self.spec.reconnect_window_s
            elif deadline is not None and time.monotonic() > deadline:
                self._ended.set()
                return
            else:
                # Ended without a frame (a port taken, a failed start): no tight respawn loop.
                self._stop.wait(0.5)

    def _contribution_silent(self) -> bool:
        last = self.feed.last_arrival
        return last is not None and time.monotonic() - last > self.spec.loss_after_s + 0.5

    def _note_refusal(self, run: DecoderRun) -> None:
        # A refused handshake does not end the listener: the reason is read while it runs.
        reason = reason_from_stderr(run.stderr)
        if reason and reason != self.status.last_refusal:
            self.status.last_refusal = reason

    # ---- the clock ----------------------------------------------------------------------

    def _tick_loop(self, video: IO[bytes], audio: IO[bytes]) -> None:
        clock = TickClock(self.spec.canvas.fps)
        try:
            while not (self._stop.is_set() or self._ended.is_set()):
                frame, sound, source = self.switcher.next_frame()
                if source is Source.SLATE and self.status.state == ChannelState.LIVE:
                    self.status.state = ChannelState.RECONNECTING
                video.write(frame)
                audio.write(sound)
                clock.wait_next()
                if clock.ticks % self.spec.canvas.fps == 0:
                    self._count(clock)
        except BrokenPipeError:
            raise LivePipelineError(
                "the encoder stopped taking frames (see .encoder.log in the channel folder)"
            ) from None
        finally:
            self._count(clock)  # the final counts are exact

    def _count(self, clock: TickClock) -> None:
        self.status.speed, self.status.late_ticks = clock.speed(), clock.late
        c = self.switcher.counts
        self.status.frames = {"live": c.live, "hold": c.hold, "slate": c.slate}

    # ---- processes ------------------------------------------------------------------------

    def _start_packagers(self, fifos: tuple[Path, Path]) -> list[subprocess.Popen[bytes]]:
        spec = self.spec
        dash = dash_packager_args(
            spec.packager, str(fifos[0]), spec.out, spec.rungs, window=spec.window,
            utc_timing_url=spec.utc_timing_url, encryption=spec.encryption,
        )  # fmt: skip
        hls = hls_packager_args(
            spec.packager, str(fifos[1]), spec.out, spec.rungs, window=spec.window,
            encryption=spec.encryption,
        )  # fmt: skip
        started = []
        for name, args in (("dash", dash), ("hls", hls)):
            with open(spec.out / f".packager-{name}.log", "ab") as log:
                started.append(
                    subprocess.Popen(
                        args, stdout=log, stderr=log, pass_fds=_flagfile_fds(spec.encryption)
                    )
                )
        return started

    def _start_encoder(self, fifos: tuple[Path, Path], audio_fd: int) -> subprocess.Popen[bytes]:
        spec = self.spec
        outputs = [str(f) for f in fifos]
        if spec.record:
            outputs.append(str(new_recording_path(spec.out)))
        args = encoder_args(
            spec.canvas, spec.rungs, audio_fd=audio_fd, outputs=outputs, preset=spec.preset
        )
        with open(spec.out / ".encoder.log", "ab") as log:
            return subprocess.Popen(
                args, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=log,
                pass_fds=(audio_fd,),
            )  # fmt: skip

    @contextmanager
    def _processes(self) -> Iterator[tuple[IO[bytes], IO[bytes]]]:
        out = self.spec.out
        out.mkdir(parents=True, exist_ok=True)
        fifos = (out / ".dash.ts", out / ".hls.ts")
        for fifo in fifos:
            with contextlib.suppress(FileNotFoundError):
                fifo.unlink()
            os.mkfifo(fifo, 0o600)
        procs: list[subprocess.Popen[bytes]] = []
        audio_read, audio_write = os.pipe()
        try:
            procs += self._start_packagers(fifos)
            _widen(audio_write)
            encoder = self._start_encoder(fifos, audio_read)
            procs.append(encoder)
            os.close(audio_read)
            assert encoder.stdin is not None
            _widen(encoder.stdin.fileno())
            with os.fdopen(audio_write, "wb", buffering=0) as audio:
                yield encoder.stdin, audio
        finally:
            for p in reversed(procs):
                _end(p)
            if self._decoder:
                _end(self._decoder.process)
            for fifo in fifos:
                with contextlib.suppress(FileNotFoundError):
                    fifo.unlink()

    def run(self) -> None:
        """Run until ``stop`` or the reconnect window runs out; the state is then ``ended``."""
        try:
            with self._processes() as (video, audio):
                threading.Thread(target=self._listen_loop, daemon=True).start()
                self._tick_loop(video, audio)
                video.close()
        finally:
            self.status.state = ChannelState.ENDED

    def stop(self) -> None:
        self._stop.set()


def _flagfile_fds(encryption: LiveEncryption | None) -> Sequence[int]:
    if encryption is None:
        return ()
    return (int(encryption.flagfile_arg.rsplit("/", 1)[1]),)


def _end(process: subprocess.Popen[bytes], grace_s: float = 5.0) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(grace_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def sweep_orphans(live_root: Path) -> int:
    """Kill pipeline processes a killed live worker left behind (their listener would hold
    the channel's port and keep accepting its encoder): any process whose command line
    names a folder under ``live_root``. Run when a live worker starts; returns how many."""
    import signal

    marker = str(live_root.resolve()) + os.sep
    killed = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # gone, or not ours to read
        if marker in cmdline:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(proc.name), signal.SIGKILL)
                killed += 1
    return killed
