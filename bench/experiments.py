"""What experiments cost: assignment per playback start, one results computation, and the
playback start with three experiments running against none.

1. Assignment, in-process: ``Assigner.assign`` for one viewer with three running
   experiments (an ABR test targeted on countries and device classes in layer ``player``,
   a home-rows test in layer ``recs``, an artwork test on half the traffic), each call
   timed alone over distinct account ids (the token's ``sub``). Beside it, in the same run
   and over the same ids: no experiment running, a bare dict lookup (what a cache of
   assignments would cost at best) and one SHA-256 of the id (what any hash-based
   assignment costs at least). Aim (issue 23): p99 <= 50 us.
2. Results: ``analyse`` of a two-variant experiment with every metric of metrics.py
   (per-viewer means with CUPED, ratios, p50 and p90 over sessions clustered by viewer) at
   ``--viewers`` per variant, five sessions per viewer on average: what the results
   endpoint will pay per request, most of it sorting sessions for the quantiles. Also the
   sessions the power calculation says a 10% p90 start-up regression needs
   (tests/experiments/test_power.py checks it by simulation).
3. Playback start (bench/experiments_playback.py): POST /v1/titles/{id}/playback on a real
   API process, Redis and catalog, open loop at a fixed rate, with no experiment running and
   with the three above running, alternating in the same run: p50/p99 and their ratio.

    .venv/bin/python bench/experiments.py [--calls 200000] [--viewers 100000]
        [--start-rate 100] [--start-seconds 15] [--start-rounds 3] [--only assignment,...]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np

# The repository root in place of bench/: bench/packaging.py would shadow PyPI's packaging,
# which gbstats imports.
sys.path[0] = str(Path(__file__).resolve().parents[1])

from reelflow.experiments.analysis import Plan, VariantData, analyse  # noqa: E402
from reelflow.experiments.assignment import (  # noqa: E402
    Assigner,
    ExperimentSpec,
    LayerSlice,
    Target,
    Variant,
    Viewer,
)
from reelflow.experiments.lifts import Settings  # noqa: E402
from reelflow.experiments.measures import (  # noqa: E402
    MeanData,
    MetricData,
    QuantileData,
    RatioData,
)
from reelflow.experiments.power import (  # noqa: E402
    quantile_unit_variance,
    relative_unit_variance,
    sequential_units,
)

ABR = {"abr": {"bandwidthDowngradeTarget": 0.95, "bandwidthUpgradeTarget": 0.85}}


def three_experiments() -> Assigner:
    return Assigner(
        [
            ExperimentSpec(
                "abr-ladder-2026",
                (Variant("control", 0.5, {}), Variant("eager", 0.5, ABR)),
                Target(
                    countries=frozenset({"US", "DE", "FR", "GB"}),
                    devices=frozenset({"desktop", "tv"}),
                ),
                LayerSlice("player", 0.0, 0.6),
            ),
            ExperimentSpec(
                "home-rows",
                tuple(Variant(k, 1 / 3, {"model": k}) for k in ("pop", "als", "bpr")),
                layer=LayerSlice("recs"),
            ),
            ExperimentSpec(
                "artwork-policy",
                (Variant("studio", 0.5, {}), Variant("personal", 0.5, {"art": "personal"})),
                Target(share=0.5),
            ),
        ]
    )


def percentiles(samples_ns: list[int]) -> tuple[float, float]:
    us = np.asarray(samples_ns, dtype=float) / 1000
    return float(np.percentile(us, 50)), float(np.percentile(us, 99))


def timed(call: Callable[[Viewer], object], viewers: list[Viewer]) -> list[int]:
    clock = time.perf_counter_ns
    samples = []
    for viewer in viewers:
        start = clock()
        call(viewer)
        samples.append(clock() - start)
    return samples


def bench_assignment(calls: int) -> None:
    viewers = [
        Viewer(
            str(uuid.uuid4()),
            country=("US", "DE", "BR")[i % 3],
            plan="standard",
            device=("desktop", "tv", "mobile")[i % 3],
        )
        for i in range(calls)
    ]
    three, none = three_experiments(), Assigner([])
    cache = {v.account_id: {"abr-ladder-2026": "eager"} for v in viewers}
    ways: dict[str, Callable[[Viewer], object]] = {
        "three experiments": three.assign,
        "no experiment": none.assign,
        "dict lookup (baseline)": lambda v: cache[v.account_id],
        "sha256 of the id (baseline)": lambda v: hashlib.sha256(v.account_id.encode()).digest(),
    }
    for call in ways.values():  # warm-up
        timed(call, viewers[:2000])
    print(f"assignment per playback start, {calls} viewers, in-process:")
    for name, call in ways.items():
        p50, p99 = percentiles(timed(call, viewers))
        print(f"  {name:30s} p50 {p50:6.2f} us   p99 {p99:6.2f} us")
    entered = sum(len(three.assign(v)) for v in viewers[:10000]) / 10000
    print(f"  (experiments a viewer is in, on average: {entered:.2f} of 3)")


def variant(rng: np.random.Generator, key: str, viewers: int) -> VariantData:
    pre = rng.gamma(2.0, 15.0, viewers)
    sessions = 1 + rng.poisson(4, viewers)
    owner = np.repeat(np.arange(viewers), sessions)
    startup = np.exp(rng.normal(0, 0.5, viewers)[owner] + rng.normal(0, 0.3, owner.size))
    watched = rng.gamma(2.0, 600.0, viewers)
    metrics: dict[str, MetricData] = {
        "minutes_watched": MeanData.of(0.8 * pre + rng.gamma(2.0, 5.0, viewers), pre),
        "play_starts": MeanData.of(sessions + rng.poisson(1, viewers), sessions),
        "sessions": MeanData.of(sessions, rng.poisson(5, viewers)),
        "startup_p50": QuantileData(startup, owner),
        "startup_p90": QuantileData(startup, owner),
        "rebuffer_ratio": RatioData.of(0.01 * watched * rng.gamma(4.0, 0.25, viewers), watched),
        "playback_failures": RatioData.of(rng.binomial(sessions, 0.01), sessions),
        "exits_before_start": RatioData.of(rng.binomial(sessions, 0.03), sessions),
    }
    return VariantData(key, 0.5, viewers, metrics)


def bench_results(viewers: int) -> None:
    rng = np.random.default_rng(1)
    arms = [variant(rng, "control", viewers), variant(rng, "eager", viewers)]
    plan = Plan(
        "minutes_watched",
        ("startup_p90", "rebuffer_ratio", "playback_failures"),
        mde=0.02,
        settings=Settings(sequential_tuning=4 * viewers),
    )
    analyse(arms, plan)  # warm-up
    runs = []
    for _ in range(5):
        start = time.perf_counter()
        results = analyse(arms, plan)
        runs.append(time.perf_counter() - start)
    sessions = sum(int(a.metrics["startup_p90"].units) for a in arms)
    print(
        f"results of 2 variants x {len(results.metrics)} metric rows, {2 * viewers} viewers, "
        f"{sessions} sessions: median {1000 * float(np.median(runs)):.1f} ms "
        f"(hint: {results.decisions[0].hint})"
    )


def p90_regression_sessions() -> None:
    sigma, nu, z = 0.6, 0.9, 1.2815515655446004
    q90 = float(np.exp(z * sigma))
    density = float(np.exp(-z * z / 2) / np.sqrt(2 * np.pi)) / (q90 * sigma)
    control = quantile_unit_variance(nu, density)
    unit_variance = relative_unit_variance(control, q90, 1.21 * control, 1.1 * q90)
    needed = sequential_units(unit_variance, 0.10, 0.05, 0.8, 10_000)
    print(
        f"a 10% p90 start-up regression (log-normal, sigma {sigma}) needs {needed} sessions "
        "for 80% power with the sequential test"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--viewers", type=int, default=100_000)
    parser.add_argument("--start-rate", type=int, default=100, help="playback starts per second")
    parser.add_argument("--start-seconds", type=int, default=15, help="per measurement")
    parser.add_argument("--start-rounds", type=int, default=3, help="none/three pairs")
    parser.add_argument("--only", default="assignment,results,start", help="comma-separated")
    args = parser.parse_args()
    parts = {p.strip() for p in args.only.split(",") if p.strip()}
    if not parts or parts - {"assignment", "results", "start"}:
        raise SystemExit("--only: a comma-separated subset of assignment, results, start")
    print(f"load average before: {os.getloadavg()[0]:.2f} (2 cores)")
    if "assignment" in parts:
        bench_assignment(args.calls)
    if "results" in parts:
        bench_results(args.viewers)
        p90_regression_sessions()
    if "start" in parts:
        # bench/ after site-packages (PyPI's packaging first): the sibling module.
        sys.path.append(str(Path(__file__).resolve().parent))
        from experiments_playback import bench_playback_start

        bench_playback_start(args.start_rate, args.start_seconds, args.start_rounds)
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
