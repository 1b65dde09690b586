"""A simulated experiment written as the events the API and the player log, as Parquet files
(tests/experiments/event_files.py), with a known effect per variant.

Each viewer has a watching habit (sessions and minutes per session, log-normal), the same
before and during the experiment, so the pre-period predicts the experiment period as CUPED
expects. Before the start: sessions of ``session_start``, ``play_start`` and ``qoe`` events.
From the first exposure on: each session is a ``session_start`` and an ``exposure``, then a
``play_start`` and a ``qoe`` beacon with start-up time, minutes played and stalls, or a
failure (error codes, ``play_end`` for an error), or nothing more (left before the first
frame). The treatment multiplies minutes and start-up times by its factors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from tests.experiments.event_files import event, exposure, qoe, write

HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class Effect:
    minutes: float = 1.0  # factor on minutes played
    startup: float = 1.0  # factor on start-up time


@dataclass
class Truth:
    viewers: dict[str, int] = field(default_factory=dict)  # per variant
    minutes: dict[str, float] = field(default_factory=dict)  # total, per variant
    sessions: dict[str, int] = field(default_factory=dict)


def _session(
    out: list[dict[str, Any]],
    viewer: str,
    sid: str,
    t: datetime,
    rng: np.random.Generator,
    minutes: float,
    startup_s: float,
) -> float:
    """One session's events after its start (and exposure); the minutes it played."""
    fate = rng.random()
    if fate < 0.05:  # left before the first frame
        return 0.0
    if fate < 0.08:  # failed
        out.append(qoe(viewer, sid, t + timedelta(seconds=3), errors=["e:3016"]))
        out.append(event("play_end", viewer, sid, t + timedelta(seconds=4), title="t1",
                         position_s=0.0, reason="error"))  # fmt: skip
        return 0.0
    out.append(event("play_start", viewer, sid, t + timedelta(seconds=2), title="t1",
                     position_s=0.0))  # fmt: skip
    played = minutes * 60_000
    out.append(qoe(viewer, sid, t + timedelta(seconds=3), startup_ms=startup_s * 1000,
                   played_ms=played, rebuffer_ms=played * 0.01 * rng.random()))  # fmt: skip
    return minutes


def simulate(root: Path, *, key: str, start: datetime, hours: int, viewers: int,
             effects: dict[str, Effect], seed: int) -> Truth:  # fmt: skip
    """Viewers exposed over ``hours`` from ``start`` to the variants of ``effects`` (equal
    weights, first is control); the events under ``root``."""
    rng = np.random.default_rng(seed)
    names = list(effects)
    truth = Truth({n: 0 for n in names}, {n: 0.0 for n in names}, {n: 0 for n in names})
    records: list[dict[str, Any]] = []
    rate = rng.lognormal(0.0, 0.6, viewers)  # sessions per two days
    length = rng.lognormal(np.log(20), 0.7, viewers)  # minutes per session
    for i in range(viewers):
        viewer, variant = f"v_{i:06d}", names[int(rng.integers(len(names)))]
        effect = effects[variant]
        for n in range(int(rng.poisson(rate[i])) + 1):  # the pre-period: three days earlier
            t = start - timedelta(days=3) + HOUR * int(rng.integers(0, 3))
            sid = f"p{i}-{n}"
            records.append(event("session_start", viewer, sid, t, title="t1"))
            _session(records, viewer, sid, t, rng, length[i] * rng.lognormal(0, 0.3),
                     rng.lognormal(0, 0.5))  # fmt: skip
        first = start + timedelta(seconds=int(rng.integers(0, (hours - 1) * 3600)))
        later = [first + (start + HOUR * hours - first) * float(rng.random())
                 for _ in range(int(rng.poisson(rate[i])))]  # fmt: skip
        truth.viewers[variant] += 1
        for n, t in enumerate([first, *later]):
            sid = f"s{i}-{n}"
            records.append(event("session_start", viewer, sid, t, title="t1"))
            records.append(exposure(viewer, sid, t + timedelta(seconds=1), key, variant))
            minutes = length[i] * rng.lognormal(0, 0.3) * effect.minutes
            startup = rng.lognormal(0, 0.5) * effect.startup
            truth.minutes[variant] += _session(records, viewer, sid, t, rng, minutes, startup)
            truth.sessions[variant] += 1
    write(root, records)
    return truth
