"""Assignment: the split follows the weights, a viewer's variant never moves while the
experiment runs, targets and layers keep viewers out, and layers are independent."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from itertools import pairwise

import numpy as np
import pytest
from scipy.stats import chi2_contingency

from reelflow.experiments.assignment import (
    Assigner,
    ExperimentSpec,
    InvalidExperiment,
    LayerSlice,
    Target,
    Variant,
    Viewer,
)


def _spec(
    key: str,
    weights: tuple[float, ...] = (0.5, 0.5),
    target: Target = Target(),
    layer: LayerSlice | None = None,
) -> ExperimentSpec:
    variants = tuple(
        Variant(f"v{i}", w, {"abr": {"bandwidthDowngradeTarget": 0.9 - i / 10}})
        for i, w in enumerate(weights)
    )
    return ExperimentSpec(key, variants, target, layer)


def _ids(count: int, start: int = 0) -> list[str]:
    return [f"acct-{i:07d}" for i in range(start, start + count)]


def _variants(spec: ExperimentSpec, ids: list[str]) -> list[str | None]:
    return [(a.variant if (a := spec.assign(Viewer(i))) else None) for i in ids]


@pytest.mark.slow
def test_a_million_viewers_split_within_0_3_points_of_the_weights() -> None:
    spec = _spec("home-rows-2026", (0.2, 0.3, 0.5))
    got = _variants(spec, _ids(1_000_000))
    shares = {v: got.count(v) / len(got) for v in ("v0", "v1", "v2")}
    print(f"shares of 1,000,000 viewers: {shares}")
    assert None not in got
    for key, weight in zip(("v0", "v1", "v2"), (0.2, 0.3, 0.5), strict=True):
        assert abs(shares[key] - weight) <= 0.003, (key, shares[key])


_ELSEWHERE = """
import json, sys
from reelflow.experiments.assignment import ExperimentSpec, Variant, Viewer
spec = ExperimentSpec("abr-ladder", (Variant("a", 0.5), Variant("b", 0.5)))
ids = json.loads(sys.stdin.read())
print(json.dumps([spec.assign(Viewer(i)).variant for i in ids]))
"""


def test_a_viewers_variant_never_changes_while_the_experiment_runs() -> None:
    ids = _ids(5_000)
    spec = _spec("abr-ladder", (0.5, 0.5))
    first = _variants(spec, ids)
    # Again, from a rebuilt definition beside another running experiment in its own layer.
    assigner = Assigner([_spec("abr-ladder"), _spec("artwork", layer=LayerSlice("art", 0, 0.5))])
    again = [assigner.assign(Viewer(i))["abr-ladder"].variant for i in ids]
    assert again == first
    # Another process, with another str-hash salt: nothing depends on the process.
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", _ELSEWHERE],
        input=json.dumps(ids),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert json.loads(out.stdout) == [{"v0": "a", "v1": "b"}[v or ""] for v in first]


def test_raising_the_share_only_adds_viewers() -> None:
    ids = _ids(20_000)
    steps = [_variants(_spec("ramp", target=Target(share=s)), ids) for s in (0.1, 0.5, 1.0)]
    for before, after in pairwise(steps):
        assert all(a == b for a, b in zip(before, after, strict=True) if a is not None)
        assert sum(a is not None for a in after) > sum(b is not None for b in before)
    assert abs(sum(v is not None for v in steps[0]) / len(ids) - 0.1) < 0.01


def test_experiments_in_one_layer_never_share_a_viewer() -> None:
    left = _spec("abr-a", layer=LayerSlice("abr", 0.0, 0.4))
    right = _spec("abr-b", layer=LayerSlice("abr", 0.4, 1.0))
    ids = _ids(50_000)
    a, b = _variants(left, ids), _variants(right, ids)
    assert not any(x is not None and y is not None for x, y in zip(a, b, strict=True))
    assert all(x is not None or y is not None for x, y in zip(a, b, strict=True))
    assert abs(sum(x is not None for x in a) / len(ids) - 0.4) < 0.01
    with pytest.raises(InvalidExperiment, match="overlap in abr"):
        Assigner([left, _spec("abr-c", layer=LayerSlice("abr", 0.3, 0.5))])


def test_experiments_in_different_layers_are_independent() -> None:
    first = _spec("player-abr", (0.5, 0.5), layer=LayerSlice("player", 0, 0.7))
    second = _spec("home-rows", (0.3, 0.3, 0.4), layer=LayerSlice("recs", 0.2, 1.0))
    ids = _ids(200_000)
    a, b = _variants(first, ids), _variants(second, ids)
    rows, cols = ["v0", "v1", None], ["v0", "v1", "v2", None]
    table = np.zeros((len(rows), len(cols)))
    for x, y in zip(a, b, strict=True):
        table[rows.index(x), cols.index(y)] += 1
    p_value = chi2_contingency(table).pvalue
    print(f"independence of two layers over 200,000 viewers: chi-square p = {p_value:.3f}")
    assert p_value > 0.001
    assert table[2].sum() / len(ids) == pytest.approx(0.3, abs=0.01)  # outside its slice


def test_a_viewer_outside_the_target_is_not_in_the_experiment() -> None:
    target = Target(
        countries=frozenset({"DE", "FR"}), plans=frozenset({"premium"}), devices=frozenset({"tv"})
    )
    spec = _spec("tv-ladder", target=target)
    inside = Viewer("acct-1", country="DE", plan="premium", device="tv")
    assert spec.assign(inside) is not None
    for outside in (
        Viewer("acct-1", country="US", plan="premium", device="tv"),
        Viewer("acct-1", country="DE", plan="basic", device="tv"),
        Viewer("acct-1", country="DE", plan="premium", device="mobile"),
        Viewer("acct-1", country=None, plan="premium", device="tv"),
        Viewer("", country="DE", plan="premium", device="tv"),
    ):
        assert spec.assign(outside) is None
    assert Assigner([spec]).assign(Viewer("acct-1", country="US")) == {}
    nobody = _spec("off", target=Target(share=0.0))
    assert all(v is None for v in _variants(nobody, _ids(1000)))
    assigned = Assigner([spec]).assign(inside)["tv-ladder"]
    assert assigned.config == {
        "abr": {"bandwidthDowngradeTarget": 0.9 - int(assigned.variant[1]) / 10}
    }


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: _spec("Bad Key"), "key"),
        (lambda: ExperimentSpec("one", (Variant("a", 1.0),)), "variants"),
        (lambda: ExperimentSpec("dup", (Variant("a", 0.5), Variant("a", 0.5))), "variants"),
        (lambda: _spec("sum", (0.5, 0.6)), "variants.weight"),
        (lambda: _spec("neg", (1.2, -0.2)), "variants.weight"),
        (lambda: Target(share=1.5), "target.share"),
        (lambda: Target(plans=frozenset({"gold"})), "target.plans"),
        (lambda: Target(countries=frozenset({"de"})), "target.countries"),
        (lambda: LayerSlice("abr", 0.6, 0.6), "layer"),
        (lambda: Assigner([_spec("same"), _spec("same")]), "key"),
    ],
)
def test_a_definition_that_cannot_run_is_refused_by_name(build: object, field: str) -> None:
    with pytest.raises(InvalidExperiment) as caught:
        build()  # type: ignore[operator]
    assert caught.value.field == field
