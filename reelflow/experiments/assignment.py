"""Which variant of each running experiment a viewer gets: deterministic, sticky, targeted.

GrowthBook-compatible (hashing.py): the variant is hash version 2 of the experiment key
(the seed) followed by the viewer's account id (the token's ``sub``, what a device SDK
knows), laid on the variants' bucket ranges with the target's share as GrowthBook's
coverage. Nothing is stored: the same definition gives the same answer in every process and
on every device, for as long as the experiment runs (a started experiment's variants cannot
change; raising the share only adds viewers, since each variant's range grows from its
start). A viewer outside the target, the share or the layer slice is not in the experiment:
``assign`` answers None and the caller applies the default and logs no exposure.

Layers are GrowthBook namespaces: a layer id and a slice [start, end) of it per experiment.
Experiments that touch the same thing share a layer with disjoint slices and never share a
viewer; experiments in different layers are independent (tests/experiments/test_assignment.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from reelflow.domain.ids import SLUG_RE
from reelflow.domain.plans import PLAN_MAX_HEIGHT
from reelflow.experiments.hashing import (
    WEIGHT_TOLERANCE,
    Range,
    bucket_ranges,
    choose_variation,
    fnv1a32,
    hash_v2,
    in_namespace,
)


class InvalidExperiment(ValueError):
    """A definition that cannot run; ``field`` names the part at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


def _slug(value: str, field: str) -> str:
    if not isinstance(value, str) or SLUG_RE.fullmatch(value) is None:
        raise InvalidExperiment(field, f"{value!r} is not a-z 0-9 _ -, at most 64 characters")
    return value


@dataclass(frozen=True)
class Variant:
    key: str
    weight: float
    config: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Target:
    """Who may enter; an empty set admits everyone, ``share`` is the part of those let in."""

    countries: frozenset[str] = frozenset()
    plans: frozenset[str] = frozenset()
    devices: frozenset[str] = frozenset()
    share: float = 1.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.share <= 1.0:
            raise InvalidExperiment("target.share", "must be between 0 and 1")
        if unknown := self.plans - PLAN_MAX_HEIGHT.keys():
            raise InvalidExperiment("target.plans", f"unknown plan(s) {sorted(unknown)}")
        if bad := {c for c in self.countries if len(c) != 2 or not c.isalpha() or not c.isupper()}:
            raise InvalidExperiment("target.countries", f"not ISO 3166 alpha-2: {sorted(bad)}")

    def admits(self, viewer: Viewer) -> bool:
        return (
            (not self.countries or viewer.country in self.countries)
            and (not self.plans or viewer.plan in self.plans)
            and (not self.devices or viewer.device in self.devices)
        )


@dataclass(frozen=True)
class LayerSlice:
    """An experiment's slice [start, end) of a layer (a GrowthBook namespace)."""

    layer: str
    start: float = 0.0
    end: float = 1.0

    def __post_init__(self) -> None:
        _slug(self.layer, "layer")
        if not 0.0 <= self.start < self.end <= 1.0:
            raise InvalidExperiment("layer", "the slice needs 0 <= start < end <= 1")


@dataclass(frozen=True)
class Viewer:
    account_id: str  # the token's sub
    country: str | None = None
    plan: str | None = None
    device: str | None = None  # the device class: tv, tablet, mobile, desktop


@dataclass(frozen=True)
class Assigned:
    variant: str
    config: Mapping[str, Any]


@dataclass(frozen=True)
class ExperimentSpec:
    """What assignment needs of a running experiment, checked once when it is built."""

    key: str
    variants: tuple[Variant, ...]
    target: Target = Target()
    layer: LayerSlice | None = None
    _ranges: tuple[Range, ...] = field(init=False, repr=False, compare=False)
    _seed_state: int = field(init=False, repr=False, compare=False)
    _namespace: tuple[str, float, float] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _slug(self.key, "key")
        if len(self.variants) < 2:
            raise InvalidExperiment("variants", "an experiment needs at least two variants")
        keys = [_slug(v.key, "variants.key") for v in self.variants]
        if len(set(keys)) != len(keys):
            raise InvalidExperiment("variants", "variant keys must be unique")
        weights = [v.weight for v in self.variants]
        if any(w < 0 for w in weights) or abs(sum(weights) - 1) > WEIGHT_TOLERANCE:
            raise InvalidExperiment("variants.weight", "weights are >= 0 and add up to 1")
        ranges = bucket_ranges(len(weights), self.target.share, weights)
        object.__setattr__(self, "_ranges", tuple(ranges))
        object.__setattr__(self, "_seed_state", fnv1a32(self.key))
        if self.layer is not None:
            slice_ = (self.layer.layer, self.layer.start, self.layer.end)
            object.__setattr__(self, "_namespace", slice_)

    def assign(self, viewer: Viewer, id_state: int | None = None) -> Assigned | None:
        """The viewer's variant, or None; ``id_state`` is ``fnv1a32(account_id)`` when the
        caller has it (Assigner computes it once for every layer)."""
        if not viewer.account_id or not self.target.admits(viewer):
            return None
        if self.layer is not None:
            state = fnv1a32(viewer.account_id) if id_state is None else id_state
            if not in_namespace(state, self._namespace):
                return None
        index = choose_variation(hash_v2(self._seed_state, viewer.account_id), self._ranges)
        if index < 0:
            return None
        variant = self.variants[index]
        return Assigned(variant.key, variant.config)


def _overlapping(slices: Sequence[tuple[str, LayerSlice]]) -> tuple[str, str] | None:
    ordered = sorted(slices, key=lambda item: item[1].start)
    for (first, a), (second, b) in pairwise(ordered):
        if b.start < a.end:
            return first, second
    return None


class Assigner:
    """The running experiments, checked together: unique keys, no two slices of a layer
    overlapping (they would share viewers). ``assign`` is what a playback start calls."""

    def __init__(self, experiments: Iterable[ExperimentSpec]) -> None:
        self.experiments = tuple(experiments)
        keys = [e.key for e in self.experiments]
        if len(set(keys)) != len(keys):
            raise InvalidExperiment("key", "two running experiments have the same key")
        layers: dict[str, list[tuple[str, LayerSlice]]] = {}
        for e in self.experiments:
            if e.layer is not None:
                layers.setdefault(e.layer.layer, []).append((e.key, e.layer))
        for name, slices in layers.items():
            if pair := _overlapping(slices):
                raise InvalidExperiment("layer", f"{pair[0]} and {pair[1]} overlap in {name}")
        self._layered = bool(layers)

    def assign(self, viewer: Viewer) -> dict[str, Assigned]:
        """Variant per experiment the viewer is in; the others are absent."""
        answer: dict[str, Assigned] = {}
        if not viewer.account_id:
            return answer
        id_state = fnv1a32(viewer.account_id) if self._layered else None
        for experiment in self.experiments:
            if (assigned := experiment.assign(viewer, id_state)) is not None:
                answer[experiment.key] = assigned
        return answer
