"""Fold-in at request time: how long the serving model takes to turn a new viewer's plays
into their lists, on a MovieLens-sized model.

The model is the production hybrid trained on MovieLens (bench/recs.py's data: 9,066
movies, 671 viewers; the blend fixed at its tuned defaults so the run is short) plus the
popularity lists, stored and loaded back through the object store's files (artifact.py),
as an API process loads it. Each sample is one new viewer: a MovieLens viewer's first
``--plays`` ratings as their history, handed to ``ServingModel.recs`` (hybrid scores for
the history and up to three "because" anchors in one pass, popularity, genre order, top
100 of each list): what ``RecsService`` runs in a thread for a viewer with no fresh
precomputed rows. Redis and catalog round trips are not in it (the API bench measures
the whole request). Aim: p99 <= 25 ms.

    .venv/bin/python bench/recs_serving_foldin.py [--plays 3 20 100] [--samples 500] [--json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from recs import movielens  # bench/ is on sys.path when the script runs (and for mypy)

from reelflow.recs.hybrid import Hybrid, HybridSettings
from reelflow.recs.interactions import Dataset
from reelflow.recs.model_store import ModelStore
from reelflow.recs.popularity import Popularity
from reelflow.recs.serving_model import ServingModel, Viewing
from reelflow.storage import LocalStore

AIM_P99_MS = 25.0


def served_model(data: Dataset, root: Path) -> tuple[ServingModel, float]:
    """The model as an API process has it (saved, loaded back), and the training seconds."""
    started = time.perf_counter()
    hybrid = Hybrid(HybridSettings(tune=False))
    hybrid.fit(data)
    popularity = Popularity(half_life_days=30.0)
    popularity.fit(data)
    model = ServingModel(
        0, hybrid.parts, hybrid.blend, popularity.anonymous_scores(), popularity.country_scores()
    )
    seconds = time.perf_counter() - started
    models = ModelStore(LocalStore(root))
    return models.load(models.save(model, {})), seconds


def histories(data: Dataset, plays: int, samples: int) -> list[list[Viewing]]:
    """Each viewer's first ``plays`` interactions (oldest first), as a new viewer's history."""
    strength = data.strength()
    out: list[list[Viewing]] = []
    order = np.lexsort((data.times, data.users))
    users = data.users[order]
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
    for start in starts.tolist():
        rows = order[start : start + plays].tolist()
        if len(rows) < plays or len(out) == samples:
            continue
        out.append(
            [Viewing(data.item_ids[data.items[r]], float(data.times[r]), strength[r]) for r in rows]
        )
    return out


def measure(model: ServingModel, viewers: list[list[Viewing]]) -> dict[str, float]:
    model.recs(viewers[0], "US")  # first call builds the trending cache
    times = []
    for history in viewers:
        started = time.perf_counter()
        model.recs(history, "US")
        times.append((time.perf_counter() - started) * 1000)
    ms = np.array(times)
    return {
        "samples": len(ms),
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p99_ms": round(float(np.percentile(ms, 99)), 2),
        "max_ms": round(float(ms.max()), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--plays", type=int, nargs="+", default=[3, 20, 100])
    parser.add_argument("--samples", type=int, default=500)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    data = movielens()
    with tempfile.TemporaryDirectory() as root:
        model, seconds = served_model(data, Path(root))
    rows = {n: measure(model, histories(data, n, args.samples)) for n in args.plays}
    if args.json:
        print(json.dumps({"train_seconds": round(seconds, 1), "fold_in": rows}))
        return
    print(f"model: {data.n_items:,} items, {len(model.parts.warm):,} with EASE weights; "
          f"trained in {seconds:.1f} s")  # fmt: skip
    for plays, row in rows.items():
        verdict = "met" if row["p99_ms"] <= AIM_P99_MS else "MISSED"
        print(
            f"fold-in, {plays:>3} plays: p50 {row['p50_ms']:6.2f} ms  p99 {row['p99_ms']:6.2f} ms"
            f"  max {row['max_ms']:6.2f} ms  ({row['samples']} viewers; aim p99 <= "
            f"{AIM_P99_MS:g} ms: {verdict})"
        )


if __name__ == "__main__":
    main()
