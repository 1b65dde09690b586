"""Artwork bandit offline: Thompson sampling against random choice by replay (Li et al. 2011).

A simulated log where each impression showed one of a title's candidates uniformly at
random (the logging policy replay needs); per title one candidate, the known best, clicks
at 10%, the others at 4-6%. Each policy walks the log and keeps the events where it would
have shown what the log shows (reelflow/recs/artwork_replay.py). Two bandits: Thompson
sampling updated after every event, and the API's own way (sample tables rebuilt every 500
events, uniforms fixed per 5,000-event "hour", a viewer in a random slot). Printed per seed:
kept events, replayed click rates of both bandits and of random choice, their ratios to
random (aim >= 1.2), and the best candidates' own rate (the ceiling).

    .venv/bin/python bench/artwork.py [--events 200000] [--seeds 5] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from reelflow.recs.artwork_replay import compare  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000, help="logged impressions")
    parser.add_argument("--seeds", type=int, default=5, help="simulated logs, seeds 0..n-1")
    parser.add_argument("--json", action="store_true", help="one JSON object")
    args = parser.parse_args(argv)
    rows = []
    for seed in range(args.seeds):
        result = compare(args.events, seed=seed)
        rows.append(
            {
                "seed": seed,
                "kept_bandit": result.bandit.kept,
                "kept_random": result.uniform.kept,
                "ctr_bandit": round(result.bandit.ctr, 5),
                "ctr_serving": round(result.serving.ctr, 5),
                "ctr_random": round(result.uniform.ctr, 5),
                "ratio": round(result.ratio, 3),
                "ratio_serving": round(result.serving_ratio, 3),
                "ctr_best_arm": round(result.best_ctr, 5),
            }
        )
    ratios = [row["ratio"] for row in rows]
    serving = [row["ratio_serving"] for row in rows]
    summary = {"events": args.events, "runs": rows, "ratio_median": statistics.median(ratios),
               "ratio_min": min(ratios), "ratio_serving_median": statistics.median(serving),
               "ratio_serving_min": min(serving), "aim": 1.2,
               "met": min(ratios + serving) >= 1.2}  # fmt: skip
    if args.json:
        print(json.dumps(summary))
        return 0
    print(f"{'seed':>4} {'kept':>7} {'bandit':>7} {'serving':>7} {'random':>7} "
          f"{'ratio':>6} {'serving':>7} {'best':>6}")  # fmt: skip
    for row in rows:
        print(
            f"{row['seed']:>4} {row['kept_bandit']:>7} {row['ctr_bandit']:>7.4f}"
            f" {row['ctr_serving']:>7.4f} {row['ctr_random']:>7.4f} {row['ratio']:>6.3f}"
            f" {row['ratio_serving']:>7.3f} {row['ctr_best_arm']:>6.3f}"
        )
    print(f"ratio median {summary['ratio_median']:.3f}, min {summary['ratio_min']:.3f}; "
          f"serving median {summary['ratio_serving_median']:.3f}, "
          f"min {summary['ratio_serving_min']:.3f} "
          f"(aim >= 1.2: {'met' if summary['met'] else 'missed'})")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
