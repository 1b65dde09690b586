"""The live timeline's one clock: a frame per tick from the contribution, or the slate.

The encoder and the packager see one uninterrupted raw stream (a video frame and its audio
every 1/fps s, counted, never timestamped by the contribution), so when an encoder drops and
reconnects nothing downstream restarts: segment numbers and media time continue and players
never reset (a restarted Shaka Packager does not continue its numbering, shaka-packager#89).

``ContributionFeed`` is what the decoder's reader threads fill; ``Switcher`` is asked for the
next frame on each tick and answers the newest contribution frame, a repeat of the last one
across a short gap (jitter), or the slate once the contribution has been silent for
``loss_after_s``. Pure Python and clock-injected, so it is tested without ffmpeg.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum


@dataclass(frozen=True)
class Canvas:
    """The raw picture and sound every stage agrees on: yuv420p frames and s16le stereo."""

    width: int
    height: int
    fps: int
    sample_rate: int = 48_000
    channels: int = 2

    def __post_init__(self) -> None:
        if self.width % 2 or self.height % 2 or self.width <= 0 or self.height <= 0:
            size = f"{self.width}x{self.height}"
            raise ValueError(f"canvas needs even, positive dimensions, got {size}")
        if self.fps <= 0 or self.sample_rate % self.fps:
            # A whole number of samples per frame keeps sound and picture on one counter.
            raise ValueError(f"{self.sample_rate} Hz does not divide into {self.fps} frames/s")

    @property
    def frame_bytes(self) -> int:
        return self.width * self.height * 3 // 2

    @property
    def audio_bytes(self) -> int:
        """The sound that goes with one frame."""
        return self.sample_rate // self.fps * self.channels * 2


class Source(Enum):
    LIVE = "live"  # a new frame from the contribution
    HOLD = "hold"  # the last contribution frame again: a gap shorter than the loss limit
    SLATE = "slate"  # the contribution is lost


class ContributionFeed:
    """Frames and sound from the decoder, handed to the ticking writer across threads."""

    def __init__(self, canvas: Canvas, *, max_frames: int = 4) -> None:
        self.canvas = canvas
        self._lock = threading.Lock()
        # A short queue: frames that pile up (a burst after a network stall) are dropped
        # oldest first, so the channel catches up instead of carrying the delay for ever.
        self._frames: deque[bytes] = deque(maxlen=max_frames)
        self._audio = bytearray()
        self._max_audio = canvas.audio_bytes * max_frames * 2
        self.last_arrival: float | None = None

    def push_frame(self, frame: bytes, now: float) -> None:
        if len(frame) != self.canvas.frame_bytes:
            raise ValueError(f"frame of {len(frame)} bytes, canvas wants {self.canvas.frame_bytes}")
        with self._lock:
            self._frames.append(frame)
            self.last_arrival = now

    def push_audio(self, samples: bytes) -> None:
        with self._lock:
            self._audio += samples
            excess = len(self._audio) - self._max_audio
            if excess > 0:
                # Whole sample frames only, so channels never swap.
                step = self.canvas.channels * 2
                del self._audio[: excess + (-excess) % step]

    def take(self) -> tuple[bytes | None, bytes]:
        """The oldest queued frame (None when none came) and one frame's worth of sound,
        padded with silence when the decoder's sound is short."""
        want = self.canvas.audio_bytes
        with self._lock:
            frame = self._frames.popleft() if self._frames else None
            sound = bytes(self._audio[:want])
            del self._audio[:want]
        if len(sound) < want:
            sound += bytes(want - len(sound))
        return frame, sound


@dataclass
class SwitcherCounts:
    live: int = 0
    hold: int = 0
    slate: int = 0


class Switcher:
    def __init__(
        self,
        feed: ContributionFeed,
        slate_frame: bytes,
        *,
        loss_after_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if len(slate_frame) != feed.canvas.frame_bytes:
            raise ValueError("the slate frame does not fit the canvas")
        self.feed = feed
        self.loss_after_s = loss_after_s
        self._slate = slate_frame
        self._silence = bytes(feed.canvas.audio_bytes)
        self._last = slate_frame
        self._clock = clock
        self.counts = SwitcherCounts()

    def contribution_lost(self) -> bool:
        last = self.feed.last_arrival
        return last is None or self._clock() - last > self.loss_after_s

    def next_frame(self) -> tuple[bytes, bytes, Source]:
        frame, sound = self.feed.take()
        if frame is not None:
            self._last = frame
            self.counts.live += 1
            return frame, sound, Source.LIVE
        if self.contribution_lost():
            self.counts.slate += 1
            return self._slate, self._silence, Source.SLATE
        self.counts.hold += 1
        return self._last, sound, Source.HOLD


class TickClock:
    """An absolute schedule of ticks, ``fps`` a second: waiting for the next never drifts
    with the work done between ticks, and ticks already missed are counted, not replayed
    in a burst (the pipeline reports them as falling behind real time)."""

    def __init__(
        self,
        fps: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.period = 1.0 / fps
        self._clock = clock
        self._sleep = sleep
        self._start = clock()
        self.ticks = 0
        self.late = 0

    def wait_next(self) -> None:
        self.ticks += 1
        due = self._start + self.ticks * self.period
        ahead = due - self._clock()
        if ahead > 0:
            self._sleep(ahead)
        elif -ahead > self.period:
            self.late += 1

    def speed(self) -> float:
        """Media time produced over wall time since the start: 1.0 is keeping real time."""
        elapsed = self._clock() - self._start
        return self.ticks * self.period / elapsed if elapsed > 0 else 1.0
