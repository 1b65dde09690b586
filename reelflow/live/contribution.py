"""The contribution: an SRT listener that only an encoder holding the stream key can reach,
decoded to the channel's raw canvas and handed to the switcher.

ffmpeg's libsrt listener takes the key as the SRT passphrase, so a wrong key is refused in
the handshake, before a byte of media is read (the listener logs "Incorrect passphrase",
which ``reason_from_stderr`` turns into a named reason). The URL that carries the passphrase
never reaches an argument list: it sits in an ffconcat file in memory (a memfd the child
inherits, read as ``/proc/self/fd/<n>``), as the packager's key flags do.

One decoder serves one connection: when the encoder drops, the decoder ends and the
pipeline starts the next listener while the switcher shows the slate. A contribution must
carry video and sound (every broadcast encoder sends both); one without sound is ended
with that reason rather than silently carrying a timeline with nothing under it.
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO

from reelflow.live.switcher import Canvas, ContributionFeed

SRT_LATENCY_US = 200_000  # the SRT receive buffer: covers loopback and LAN jitter
_PASSPHRASE_RE = re.compile(r"^[\x21-\x7e]{10,79}$")


@dataclass(frozen=True)
class SrtListen:
    host: str
    port: int

    def url(self, passphrase: str) -> str:
        if not _PASSPHRASE_RE.match(passphrase) or "'" in passphrase or "&" in passphrase:
            # SRT takes 10-79 characters; the quote and the ampersand would break the
            # ffconcat line or the URL's query.
            raise ValueError("a stream key must be 10-79 printable characters without ' or &")
        return (
            f"srt://{self.host}:{self.port}?mode=listener&latency={SRT_LATENCY_US}"
            f"&passphrase={passphrase}&pbkeylen=16"
        )


@contextmanager
def listener_source(listen: SrtListen, passphrase: str) -> Iterator[int]:
    """An in-memory ffconcat file naming the listener URL; yields its fd for pass_fds."""
    fd = os.memfd_create("reelflow-contribution", os.MFD_CLOEXEC)
    try:
        os.write(fd, f"ffconcat version 1.0\nfile '{listen.url(passphrase)}'\n".encode())
        yield fd
    finally:
        os.close(fd)


def decoder_args(source_fd: int, audio_fd: int, canvas: Canvas) -> list[str]:
    """Decode the contribution to the canvas: letterboxed yuv420p at the channel's frame
    rate on stdout, s16le sound on ``audio_fd`` (resampled to stay in step with the
    contribution's clock)."""
    w, h = canvas.width, canvas.height
    picture = (
        f"scale={w}:{h}:force_original_aspect_ratio=decrease,"
        f"pad={w}:{h}:(ow-iw)/2:(oh-ih)/2,setsar=1,fps={canvas.fps}"
    )
    return [
        "ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "warning",
        "-f", "concat", "-safe", "0", "-protocol_whitelist", "file,srt,udp",
        "-i", f"/proc/self/fd/{source_fd}",
        "-map", "0:v:0", "-vf", picture, "-pix_fmt", "yuv420p", "-f", "rawvideo", "pipe:1",
        "-map", "0:a:0?", "-af", "aresample=async=1000",
        "-ar", str(canvas.sample_rate), "-ac", str(canvas.channels), "-f", "s16le",
        f"pipe:{audio_fd}",
    ]  # fmt: skip


def udp_port_bound(port: int) -> bool:
    """Whether some socket on this host is bound to the UDP port (SRT runs over UDP): how
    the pipeline knows the listener is up before it says the channel is listening."""
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            lines = open(table).read().splitlines()[1:]  # noqa: SIM115 - a tiny /proc file
        except OSError:
            continue
        for line in lines:
            local = line.split()[1]
            if int(local.rsplit(":", 1)[1], 16) == port:
                return True
    return False


def reason_from_stderr(stderr: str) -> str | None:
    """Why a decoder ended, in words for the operator, or None for an ordinary hang-up."""
    if "Incorrect passphrase" in stderr or "Password incorrect" in stderr:
        return "wrong stream key: the encoder was refused in the SRT handshake"
    if "does not contain any stream" in stderr:
        return "the contribution has no sound track (send video and audio)"
    if "Address already in use" in stderr:
        return "the ingest port is taken by another process"
    return None


@dataclass
class DecoderRun:
    """One connection's decoder: frames into the feed until the encoder hangs up."""

    process: subprocess.Popen[bytes]
    frames: int = 0
    stderr: str = ""

    def wait(self) -> str | None:
        """Wait for the end; the operator-facing reason, if any."""
        self.process.wait()
        return reason_from_stderr(self.stderr)


def _pump_video(out: IO[bytes], feed: ContributionFeed, run: DecoderRun) -> None:
    size = feed.canvas.frame_bytes
    while True:
        frame = out.read(size)
        if len(frame) < size:
            return
        feed.push_frame(frame, time.monotonic())
        run.frames += 1


def _pump_audio(fd: int, feed: ContributionFeed) -> None:
    with os.fdopen(fd, "rb", buffering=0) as pipe:
        while chunk := pipe.read(65_536):
            feed.push_audio(chunk)


def _collect_stderr(err: IO[bytes], run: DecoderRun) -> None:
    # Kept short: only the tail matters for the reason, and a chatty input must not grow it.
    for line in err:
        run.stderr = (run.stderr + line.decode(errors="replace"))[-4_000:]


def start_decoder(listen: SrtListen, passphrase: str, feed: ContributionFeed) -> DecoderRun:
    """Listen for one connection and decode it into ``feed`` on background threads."""
    audio_read, audio_write = os.pipe()
    with listener_source(listen, passphrase) as source_fd:
        process = subprocess.Popen(
            decoder_args(source_fd, audio_write, feed.canvas),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            pass_fds=(source_fd, audio_write),
        )
    os.close(audio_write)
    run = DecoderRun(process)
    assert process.stdout is not None and process.stderr is not None
    for target, args in (
        (_pump_video, (process.stdout, feed, run)),
        (_pump_audio, (audio_read, feed)),
        (_collect_stderr, (process.stderr, run)),
    ):
        threading.Thread(target=target, args=args, daemon=True).start()
    return run
