"""An experiment as an admin writes it (the API's body, the CLI's spec file), checked.

``ExperimentIn`` is the shape; ``checked`` turns it into the catalog's ``Definition`` after
every rule a running experiment relies on: the assignment rules of ``ExperimentSpec``
(key, variants and weights, target, layer slice), metric names from ``metrics.METRICS``,
device classes from ``events.metrics.DEVICE_CLASSES``, and a bounded config per variant (it
travels in every playback start) whose ``abr`` part holds only the player's settings
(``player_config.ABR_SETTINGS``) and whose ``recs_model`` is a model the home serves
(``recs_config.RECS_MODELS``). A refusal is ``InvalidExperiment`` naming the field, e.g.
``target.devices`` or ``guardrails``.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from reelflow.catalog.experiments import Definition, VariantDef
from reelflow.events.metrics import DEVICE_CLASSES
from reelflow.experiments.assignment import (
    ExperimentSpec,
    InvalidExperiment,
    LayerSlice,
    Target,
    Variant,
)
from reelflow.experiments.metrics import METRICS
from reelflow.experiments.player_config import check_abr
from reelflow.experiments.recs_config import check_recs

# A variant's config is answered to every viewer in the experiment at every playback start.
MAX_CONFIG_BYTES = 4096
MAX_VARIANTS = 20


class _Strict(BaseModel):
    # strict: a weight sent as "0.5" is a mistake worth naming, not coercing.
    model_config = ConfigDict(extra="forbid", strict=True)


class VariantIn(_Strict):
    key: str = Field(description="a-z 0-9 _ -; the first variant is control")
    weight: float = Field(ge=0, le=1, description="share of the experiment's viewers; sum 1")
    config: dict[str, Any] = Field(
        default_factory=dict, description="what the client applies (e.g. Shaka ABR settings)"
    )


class TargetIn(_Strict):
    countries: list[str] = Field(default_factory=list, max_length=300, description="ISO alpha-2")
    plans: list[str] = Field(default_factory=list, max_length=10)
    devices: list[str] = Field(
        default_factory=list, max_length=10, description=f"{', '.join(sorted(DEVICE_CLASSES))}"
    )
    share: float = Field(default=1.0, ge=0, le=1, description="part of the targeted traffic")


class LayerIn(_Strict):
    name: str = Field(description="experiments that touch the same thing share a layer")
    start: float = Field(default=0.0, ge=0, le=1)
    end: float = Field(default=1.0, ge=0, le=1)


class _Editable(_Strict):
    # No NUL: PostgreSQL text cannot hold it.
    hypothesis: str = Field(default="", max_length=2000, pattern=r"^[^\x00]*$")
    mde: float | None = Field(
        default=None, gt=0, le=10, description="relative minimum detectable effect, 0.05 = 5%"
    )
    layer: LayerIn | str | None = Field(
        default=None, description="a layer name (its whole range) or {name, start, end}"
    )


class ExperimentIn(_Editable):
    key: str = Field(description="a-z 0-9 _ -, at most 64; seeds the hash, never reused")
    variants: list[VariantIn] = Field(min_length=2, max_length=MAX_VARIANTS)
    target: TargetIn = Field(default_factory=TargetIn)
    primary_metric: str
    guardrails: list[str] = Field(default_factory=list, max_length=len(METRICS))


class ExperimentPatch(_Editable):
    """A draft's edit: the fields given replace the current ones (``mde: null`` clears it)."""

    variants: list[VariantIn] | None = Field(default=None, min_length=2, max_length=MAX_VARIANTS)
    target: TargetIn | None = None
    primary_metric: str | None = None
    guardrails: list[str] | None = Field(default=None, max_length=len(METRICS))


def _metrics(primary: str, guardrails: list[str]) -> None:
    if primary not in METRICS:
        known = ", ".join(sorted(METRICS))
        raise InvalidExperiment("primary_metric", f"unknown metric {primary!r}; known: {known}")
    if unknown := [g for g in guardrails if g not in METRICS]:
        raise InvalidExperiment("guardrails", f"unknown metric(s) {unknown}")
    if len(set(guardrails)) != len(guardrails):
        raise InvalidExperiment("guardrails", "a metric is named twice")
    if primary in guardrails:
        raise InvalidExperiment("guardrails", f"{primary} is the primary metric already")


def _layer(layer: LayerIn | str | None) -> LayerSlice | None:
    if layer is None:
        return None
    return (
        LayerSlice(layer)
        if isinstance(layer, str)
        else LayerSlice(layer.name, layer.start, layer.end)
    )


def checked(body: ExperimentIn) -> Definition:
    """The catalog definition of ``body``; InvalidExperiment naming the field otherwise."""
    _metrics(body.primary_metric, body.guardrails)
    if unknown := sorted(set(body.target.devices) - DEVICE_CLASSES):
        raise InvalidExperiment("target.devices", f"unknown device class(es) {unknown}")
    for v in body.variants:
        if len(json.dumps(v.config, separators=(",", ":"))) > MAX_CONFIG_BYTES:
            raise InvalidExperiment("variants.config", f"over {MAX_CONFIG_BYTES} bytes as JSON")
        check_abr(v.key, v.config)  # the player's part: only settings it applies whole
        check_recs(v.key, v.config)  # the home's part: a model the recommender serves
    t = body.target
    layer = _layer(body.layer)
    # Built for its checks: the same rules the assigner runs under.
    ExperimentSpec(
        key=body.key,
        variants=tuple(Variant(v.key, v.weight, v.config) for v in body.variants),
        target=Target(frozenset(t.countries), frozenset(t.plans), frozenset(t.devices), t.share),
        layer=layer,
    )
    return Definition(
        key=body.key,
        variants=tuple(VariantDef(v.key, v.weight, v.config) for v in body.variants),
        primary_metric=body.primary_metric,
        guardrails=tuple(body.guardrails),
        hypothesis=body.hypothesis,
        mde=body.mde,
        countries=tuple(t.countries),
        plans=tuple(t.plans),
        devices=tuple(t.devices),
        share=t.share,
        layer=None if layer is None else layer.layer,
        layer_start=0.0 if layer is None else layer.start,
        layer_end=1.0 if layer is None else layer.end,
    )


def as_input(d: Definition) -> dict[str, Any]:
    """The definition in the shape an admin writes it (what the API answers, what a patch
    is merged into)."""
    layer = (
        None if d.layer is None else {"name": d.layer, "start": d.layer_start, "end": d.layer_end}
    )
    return {
        "key": d.key,
        "hypothesis": d.hypothesis,
        "variants": [{"key": v.key, "weight": v.weight, "config": v.config} for v in d.variants],
        "target": {
            "countries": list(d.countries),
            "plans": list(d.plans),
            "devices": list(d.devices),
            "share": d.share,
        },
        "layer": layer,
        "primary_metric": d.primary_metric,
        "guardrails": list(d.guardrails),
        "mde": d.mde,
    }


def patched(current: Definition, patch: ExperimentPatch) -> Definition:
    """``current`` with the fields ``patch`` gives, checked as a whole."""
    given = patch.model_dump(include=patch.model_fields_set)
    return checked(ExperimentIn.model_validate({**as_input(current), **given}))


def spec_of(d: Definition) -> ExperimentSpec:
    """What the assigner runs for a stored definition."""
    layer = None if d.layer is None else LayerSlice(d.layer, d.layer_start, d.layer_end)
    return ExperimentSpec(
        key=d.key,
        variants=tuple(Variant(v.key, v.weight, v.config) for v in d.variants),
        target=Target(frozenset(d.countries), frozenset(d.plans), frozenset(d.devices), d.share),
        layer=layer,
    )
