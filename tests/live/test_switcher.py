"""The live clock's switch between contribution, hold and slate, on an injected clock."""

from __future__ import annotations

import pytest

from reelflow.live.switcher import Canvas, ContributionFeed, Source, Switcher, TickClock

CANVAS = Canvas(8, 4, 25)


class FakeTime:
    """A clock the test moves by hand (time itself, not a part of reelflow)."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.slept.append(s)
        self.now += s


def _frame(v: int) -> bytes:
    return bytes([v]) * CANVAS.frame_bytes


def test_canvas_sizes_and_refusals() -> None:
    assert CANVAS.frame_bytes == 8 * 4 * 3 // 2
    assert CANVAS.audio_bytes == 48_000 // 25 * 2 * 2
    with pytest.raises(ValueError, match="even"):
        Canvas(7, 4, 25)
    with pytest.raises(ValueError, match="does not divide"):
        Canvas(8, 4, 7)


def test_slate_until_the_first_frame_then_live_hold_and_slate_after_loss() -> None:
    t = FakeTime()
    feed = ContributionFeed(CANVAS)
    sw = Switcher(feed, _frame(9), loss_after_s=1.0, clock=t)
    frame, sound, source = sw.next_frame()
    assert (frame, source) == (_frame(9), Source.SLATE) and sound == bytes(CANVAS.audio_bytes)

    feed.push_frame(_frame(1), t.now)
    feed.push_audio(b"\x01\x02" * (CANVAS.audio_bytes // 2))
    frame, sound, source = sw.next_frame()
    assert (frame, source) == (_frame(1), Source.LIVE) and sound[:2] == b"\x01\x02"

    t.now += 0.5  # a gap shorter than the loss limit repeats the last picture
    frame, _, source = sw.next_frame()
    assert (frame, source) == (_frame(1), Source.HOLD)

    t.now += 0.6  # 1.1 s without a frame: lost
    frame, sound, source = sw.next_frame()
    assert (frame, source) == (_frame(9), Source.SLATE) and not any(sound)
    assert (sw.counts.live, sw.counts.hold, sw.counts.slate) == (1, 1, 2)


def test_a_burst_is_trimmed_so_latency_does_not_build_up() -> None:
    feed = ContributionFeed(CANVAS, max_frames=3)
    for v in range(10):
        feed.push_frame(_frame(v), 0.0)
    taken = [feed.take()[0] for _ in range(4)]
    assert taken == [_frame(7), _frame(8), _frame(9), None]


def test_sound_is_padded_when_short_and_trimmed_in_whole_samples_when_long() -> None:
    feed = ContributionFeed(CANVAS, max_frames=2)
    feed.push_audio(b"\x05" * 10)
    _, sound = feed.take()
    assert sound == b"\x05" * 10 + bytes(CANVAS.audio_bytes - 10)
    feed.push_audio(b"\x01\x00\x02\x00" * CANVAS.audio_bytes)  # far more than the bound
    _, sound = feed.take()
    # Trimming kept stereo pairs aligned: every 4-byte sample frame is still (1, 2).
    assert sound[:8] == b"\x01\x00\x02\x00\x01\x00\x02\x00"


def test_wrong_frame_sizes_are_refused() -> None:
    feed = ContributionFeed(CANVAS)
    with pytest.raises(ValueError, match="bytes"):
        feed.push_frame(b"short", 0.0)
    with pytest.raises(ValueError, match="slate"):
        Switcher(feed, b"short")


def test_tick_clock_keeps_an_absolute_schedule_and_counts_late_ticks() -> None:
    t = FakeTime()
    clock = TickClock(25, clock=t, sleep=t.sleep)
    clock.wait_next()
    assert t.slept == [pytest.approx(0.04)]
    t.now += 0.01  # work between ticks shortens the next sleep, no drift
    clock.wait_next()
    assert t.slept[-1] == pytest.approx(0.03)
    t.now += 0.2  # the machine stalled: this tick and the next are behind
    clock.wait_next()
    assert clock.late == 1 and len(t.slept) == 2
    assert clock.speed() < 1.0
