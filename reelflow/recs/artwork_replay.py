"""Offline evaluation of the artwork bandit by replay (Li, Chu, Langford, Wang, WSDM 2011).

A log collected while the artwork was chosen uniformly at random is an unbiased test bed:
walk it in order, ask the policy which candidate it would show for each logged impression,
and keep the event only when that matches what was shown (then the policy learns from the
logged click). The click rate over the kept events estimates the policy's click rate online.

The log here is simulated with a known best candidate per title, so the answer can be
checked: the bandit should approach the best candidate's rate, uniform choice stays at the
mean of the candidates' rates.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from reelflow.recs.artwork_bandit import SLOTS, sample_table, thompson_choice

# (title, impressions per arm, clicks per arm, rng) -> arm
Policy = Callable[[int, np.ndarray, np.ndarray, np.random.Generator], int]


@dataclass(frozen=True)
class SimulatedLog:
    titles: np.ndarray  # per event: the title index
    arms: np.ndarray  # per event: the candidate shown (uniformly at random)
    clicks: np.ndarray  # per event: 1 if clicked
    true_ctr: np.ndarray  # titles x arms: the rates the log was drawn from
    best_arm: np.ndarray  # per title


@dataclass(frozen=True)
class ReplayResult:
    kept: int  # events where the policy chose what the log shows
    clicks: int

    @property
    def ctr(self) -> float:
        return self.clicks / self.kept if self.kept else 0.0


def simulate_log(
    events: int,
    *,
    titles: int = 20,
    arms: int = 3,
    base_ctr: float = 0.04,
    best_ctr: float = 0.10,
    seed: int = 0,
) -> SimulatedLog:
    """Uniform-random artwork log: per title the other arms click at ``base_ctr`` to 1.5x it,
    one arm (the known best) at ``best_ctr``."""
    rng = np.random.default_rng(seed)
    true_ctr = rng.uniform(base_ctr, 1.5 * base_ctr, size=(titles, arms))
    best_arm = rng.integers(0, arms, size=titles)
    true_ctr[np.arange(titles), best_arm] = best_ctr
    shown_titles = rng.integers(0, titles, size=events)
    shown_arms = rng.integers(0, arms, size=events)
    clicks = (rng.random(events) < true_ctr[shown_titles, shown_arms]).astype(np.int8)
    return SimulatedLog(shown_titles, shown_arms, clicks, true_ctr, best_arm)


def thompson_policy(
    title: int, impressions: np.ndarray, clicks: np.ndarray, rng: np.random.Generator
) -> int:
    """The serving bandit's own choice rule (artwork_bandit.thompson_choice)."""
    return thompson_choice(impressions.tolist(), clicks.tolist(), rng)


class ServingPolicy:
    """What the API does (artwork_bandit.ArtworkChooser): sample tables rebuilt from the
    counts every ``refresh_every`` events (the API's reload), uniforms fixed per "hour" of
    ``hour_every`` events, each impression a viewer in a random slot."""

    def __init__(self, *, refresh_every: int = 500, hour_every: int = 5000) -> None:
        self.refresh_every = refresh_every
        self.hour_every = hour_every
        self.calls = 0
        self.tables: dict[int, np.ndarray] = {}

    def __call__(
        self, title: int, impressions: np.ndarray, clicks: np.ndarray, rng: np.random.Generator
    ) -> int:
        if self.calls % self.refresh_every == 0:
            self.tables = {}  # the reload: every table redrawn from the counts of now
        hour = self.calls // self.hour_every
        self.calls += 1
        table = self.tables.get(title)
        if table is None:
            hour_rng = np.random.default_rng([title, hour])
            uniforms = hour_rng.random((SLOTS, len(impressions)))
            table = sample_table(impressions.tolist(), clicks.tolist(), uniforms)
            self.tables[title] = table
        return int(np.argmax(table[int(rng.integers(SLOTS))]))


def uniform_policy(
    title: int, impressions: np.ndarray, clicks: np.ndarray, rng: np.random.Generator
) -> int:
    return int(rng.integers(0, len(impressions)))


def replay(log: SimulatedLog, policy: Policy, *, seed: int = 1) -> ReplayResult:
    """Li et al.'s replay: keep the events where the policy agrees with the log."""
    titles, arms = log.true_ctr.shape
    impressions = np.zeros((titles, arms), dtype=np.int64)
    clicks = np.zeros((titles, arms), dtype=np.int64)
    rng = np.random.default_rng(seed)
    kept = won = 0
    for title, arm, click in zip(
        log.titles.tolist(), log.arms.tolist(), log.clicks.tolist(), strict=True
    ):
        if policy(title, impressions[title], clicks[title], rng) != arm:
            continue
        kept += 1
        won += click
        impressions[title, arm] += 1
        clicks[title, arm] += click
    return ReplayResult(kept, won)


@dataclass(frozen=True)
class ReplayComparison:
    bandit: ReplayResult  # Thompson sampling, posterior updated after every event
    serving: ReplayResult  # the API's way: batched reloads, sample tables, sticky slots
    uniform: ReplayResult
    best_ctr: float  # the mean rate of the known best arms (the ceiling)

    @property
    def ratio(self) -> float:
        return self.bandit.ctr / self.uniform.ctr if self.uniform.ctr else 0.0

    @property
    def serving_ratio(self) -> float:
        return self.serving.ctr / self.uniform.ctr if self.uniform.ctr else 0.0


def compare(events: int, *, seed: int = 0) -> ReplayComparison:
    """The bandit and uniform choice replayed on the same simulated log."""
    log = simulate_log(events, seed=seed)
    best = float(log.true_ctr[np.arange(len(log.best_arm)), log.best_arm].mean())
    return ReplayComparison(
        replay(log, thompson_policy, seed=seed + 1),
        replay(log, ServingPolicy(), seed=seed + 3),
        replay(log, uniform_policy, seed=seed + 2),
        best,
    )
