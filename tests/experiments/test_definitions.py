"""An experiment as an admin writes it (experiments.definitions): every refusal names its
field, a stored definition reads back in the written shape, a patch replaces only what it
gives, and the assigner runs exactly the stored definition."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from reelflow.experiments.assignment import InvalidExperiment, Viewer
from reelflow.experiments.definitions import (
    MAX_CONFIG_BYTES,
    ExperimentIn,
    ExperimentPatch,
    as_input,
    checked,
    patched,
    spec_of,
)


def body(**changes: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "key": "abr-ladder",
        "variants": [
            {"key": "control", "weight": 0.5, "config": {}},
            {"key": "fast", "weight": 0.5, "config": {"abr": {"defaultBandwidthEstimate": 3e6}}},
        ],
        "target": {"countries": ["DE"], "plans": ["premium"], "devices": ["tv"], "share": 1.0},
        "primary_metric": "minutes_watched",
        "guardrails": ["startup_p90", "rebuffer_ratio"],
        "hypothesis": "a higher first estimate starts sharper",
        "mde": 0.05,
        "layer": {"name": "abr", "start": 0.0, "end": 0.5},
    }
    return {**spec, **changes}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"key": "Has Spaces"}, "key"),
        ({"variants": [{"key": "a", "weight": 0.5}, {"key": "a", "weight": 0.5}]}, "variants"),
        ({"variants": [{"key": "a", "weight": 0.7}, {"key": "b", "weight": 0.5}]},
         "variants.weight"),
        ({"variants": [{"key": "A!", "weight": 0.5}, {"key": "b", "weight": 0.5}]},
         "variants.key"),
        ({"variants": [{"key": "a", "weight": 0.5, "config": {"x": "y" * MAX_CONFIG_BYTES}},
                       {"key": "b", "weight": 0.5}]}, "variants.config"),
        ({"target": {"devices": ["fridge"]}}, "target.devices"),
        ({"target": {"countries": ["de"]}}, "target.countries"),
        ({"target": {"plans": ["gold"]}}, "target.plans"),
        ({"primary_metric": "revenue"}, "primary_metric"),
        ({"guardrails": ["startup_p99"]}, "guardrails"),
        ({"guardrails": ["startup_p90", "startup_p90"]}, "guardrails"),
        ({"guardrails": ["minutes_watched"]}, "guardrails"),
        ({"layer": {"name": "abr", "start": 0.6, "end": 0.5}}, "layer"),
        ({"layer": "Not A Slug"}, "layer"),
    ],
)  # fmt: skip
def test_a_definition_that_cannot_run_names_its_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidExperiment) as refused:
        checked(ExperimentIn.model_validate(body(**changes)))
    assert refused.value.field == field


@pytest.mark.parametrize(
    ("changes", "where"),
    [
        ({"variants": [{"key": "a", "weight": "0.5"}, {"key": "b", "weight": 0.5}]},
         ("variants", 0, "weight")),
        ({"variants": [{"key": "only", "weight": 1.0}]}, ("variants",)),
        ({"target": {"share": 1.5}}, ("target", "share")),
        ({"mde": 0}, ("mde",)),
        ({"colour": "blue"}, ("colour",)),
    ],
)  # fmt: skip
def test_a_malformed_body_is_refused_by_its_shape(
    changes: dict[str, Any], where: tuple[object, ...]
) -> None:
    with pytest.raises(ValidationError) as refused:
        ExperimentIn.model_validate(body(**changes))
    assert tuple(refused.value.errors()[0]["loc"][: len(where)]) == where


def test_a_definition_reads_back_as_written_and_runs_as_stored() -> None:
    written = body()
    definition = checked(ExperimentIn.model_validate(written))
    assert as_input(definition) == written
    spec = spec_of(definition)
    assert (spec.key, [v.key for v in spec.variants]) == ("abr-ladder", ["control", "fast"])
    assert spec.layer is not None and (spec.layer.layer, spec.layer.end) == ("abr", 0.5)
    # Outside the target (a phone): never in it, whoever the viewer is.
    assert all(spec.assign(Viewer(f"acct-{i}", "DE", "premium", "mobile")) is None
               for i in range(200))  # fmt: skip
    inside = [spec.assign(Viewer(f"acct-{i}", "DE", "premium", "tv")) for i in range(400)]
    shares = sum(a is not None for a in inside) / len(inside)
    assert 0.35 < shares < 0.65  # the layer slice [0, 0.5)
    assert {a.variant for a in inside if a is not None} == {"control", "fast"}


def test_a_layer_name_alone_is_the_whole_layer_and_no_target_admits_everyone() -> None:
    definition = checked(ExperimentIn.model_validate(body(layer="abr", target={})))
    assert (definition.layer, definition.layer_start, definition.layer_end) == ("abr", 0.0, 1.0)
    assert definition.countries == definition.devices == ()
    assert spec_of(definition).assign(Viewer("acct-1")) is not None


def test_a_patch_replaces_what_it_gives_and_is_checked_whole() -> None:
    current = checked(ExperimentIn.model_validate(body()))
    patch = ExperimentPatch.model_validate({"mde": None, "target": {"share": 0.2}})
    edited = patched(current, patch)
    assert edited.mde is None and edited.share == 0.2
    assert edited.countries == () and edited.variants == current.variants
    assert edited.guardrails == current.guardrails and edited.layer == "abr"
    with pytest.raises(InvalidExperiment) as refused:
        patched(current, ExperimentPatch.model_validate({"primary_metric": "startup_p90"}))
    assert refused.value.field == "guardrails"  # now the primary metric and a guardrail
    with pytest.raises(ValidationError):
        ExperimentPatch.model_validate({"key": "renamed"})  # a key never changes
