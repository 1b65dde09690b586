"""An experiment's results: every variant against control on every metric, the SRM check,
and a decision hint per variant.

Read at any time from the start: the sequential (always-valid) intervals judge the primary
metric and the guardrails, so reading the results every day does not inflate false alarms
(tests/experiments/test_aa.py); the fixed-horizon intervals are beside them, right when read
once at the planned end. Where gbstats cannot compare yet (too few viewers, no variance)
the metric says "not enough data" rather than a number, except when both variants have
at least FLAT_MIN_UNITS units and no variation at all (every session had zero failures):
there is nothing to estimate, the means are the answer. docs/experiments.md explains it all.

Hints, first that applies: "stop: sample ratio mismatch" (no lift can be trusted), "stop:
guardrail hurt" (a guardrail's interval lies wholly on its bad side), "not enough data"
(the primary metric cannot be compared yet), "stop: primary hurt", "ship" (the primary's
interval lies wholly on its good side and every guardrail could be read), "keep running"
(with the viewers the minimum detectable effect needs, power.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from reelflow.experiments.lifts import Lift, NotEnoughData, Settings, compare
from reelflow.experiments.measures import MetricData, statistic
from reelflow.experiments.metrics import Metric, metric
from reelflow.experiments.power import sequential_units
from reelflow.experiments.srm import SRM_ALPHA, SrmVerdict, srm_check

Role = Literal["primary", "guardrail", "secondary"]
Verdict = Literal["better", "worse", "inconclusive", "not enough data"]
Hint = Literal[
    "ship",
    "keep running",
    "not enough data",
    "stop: guardrail hurt",
    "stop: primary hurt",
    "stop: sample ratio mismatch",
]


@dataclass(frozen=True)
class VariantData:
    key: str
    weight: float
    viewers: int  # assigned viewers (exposures), for the SRM check
    metrics: Mapping[str, MetricData] = field(default_factory=dict)


@dataclass(frozen=True)
class Plan:
    primary: str
    guardrails: tuple[str, ...] = ()
    mde: float | None = None  # relative minimum detectable effect of the primary metric
    power: float = 0.8
    settings: Settings = field(default_factory=Settings)
    srm_alpha: float = SRM_ALPHA


@dataclass(frozen=True)
class MetricResult:
    metric: str
    variant: str
    role: Role
    units: int
    control_value: float | None
    value: float | None
    absolute: Lift | None
    relative: Lift | None
    verdict: Verdict
    reason: str | None = None


@dataclass(frozen=True)
class Decision:
    variant: str
    hint: Hint
    reasons: tuple[str, ...]
    units_needed: int | None = None  # for the MDE, by the sequential test (power.py)


@dataclass(frozen=True)
class Results:
    srm: SrmVerdict
    metrics: tuple[MetricResult, ...]
    decisions: tuple[Decision, ...]


def _verdict(definition: Metric, lift: Lift) -> Verdict:
    direction = lift.sequential.sign() * (1 if definition.higher_is_better else -1)
    return "better" if direction > 0 else "worse" if direction < 0 else "inconclusive"


# Units per variant before a metric with no variation in either variant is read from its
# means: a guardrail such as playback failures is often zero everywhere, and without this it
# would hold every experiment at "not enough data" however long it ran.
FLAT_MIN_UNITS = 100
_FLAT_TOLERANCE = 1e-12


def _flat_verdict(definition: Metric, a: object, b: object) -> tuple[Verdict, str] | None:
    """The verdict of a metric neither variant varies on, or None if either does."""
    try:
        n_a, n_b = int(a.n), int(b.n)  # type: ignore[attr-defined]
        var_a, var_b = float(a.variance), float(b.variance)  # type: ignore[attr-defined]
    except (AttributeError, TypeError, ValueError, ZeroDivisionError):
        return None
    mean_a, mean_b = _value(a), _value(b)
    # A delta-method variance of a ratio that is the same for everyone comes out as rounding
    # noise (1e-17) rather than 0: "no variation" is relative to the mean's scale.
    scale = _FLAT_TOLERANCE * (1.0 + mean_a**2 + mean_b**2)
    if min(n_a, n_b) < FLAT_MIN_UNITS or max(var_a, var_b) > scale:
        return None
    if mean_a == mean_b:
        return "inconclusive", f"no variation: every unit of both variants is {mean_a:g}"
    better = (mean_b > mean_a) == definition.higher_is_better
    return ("better" if better else "worse"), (
        f"no variation within either variant: {mean_a:g} against {mean_b:g}"
    )


def _value(stat: object) -> float:
    return float(stat.unadjusted_mean)  # type: ignore[attr-defined]


def compare_metric(
    name: str, role: Role, control: VariantData, variant: VariantData, plan: Plan
) -> MetricResult:
    definition = metric(name)
    a_data, b_data = control.metrics.get(name), variant.metrics.get(name)
    empty = MetricResult(
        name, variant.key, role, 0, None, None, None, None, "not enough data", "no data yet"
    )
    if a_data is None or b_data is None:
        return empty
    # Built once for both lifts: gbstats only sets CUPED's theta on them, the same each time.
    a = statistic(a_data, definition.quantile, plan.settings.alpha)
    b = statistic(b_data, definition.quantile, plan.settings.alpha)
    seen = replace(empty, units=b_data.units, control_value=_value(a), value=_value(b))
    try:
        absolute = compare(a, b, relative=False, settings=plan.settings)
        relative = compare(a, b, relative=True, settings=plan.settings)
    except NotEnoughData as why:
        flat = _flat_verdict(definition, a, b)
        if flat is None:
            return replace(seen, reason=str(why))
        return replace(seen, verdict=flat[0], reason=flat[1])
    verdict = _verdict(definition, relative)
    return replace(seen, absolute=absolute, relative=relative, verdict=verdict, reason=None)


def _units_needed(result: MetricResult, control: VariantData, plan: Plan) -> int | None:
    if plan.mde is None or result.relative is None:
        return None
    total = result.units + (control.metrics[result.metric].units)
    return sequential_units(
        result.relative.variance * total,
        plan.mde,
        plan.settings.alpha,
        plan.power,
        plan.settings.sequential_tuning,
    )


def _decide(
    variant: str, rows: Sequence[MetricResult], srm: SrmVerdict, needed: int | None
) -> Decision:
    primary = next(r for r in rows if r.role == "primary")
    guardrails = [r for r in rows if r.role == "guardrail"]
    if srm.mismatch:
        return Decision(variant, "stop: sample ratio mismatch", (f"SRM p = {srm.p_value:.2g}",))
    if hurt := [r.metric for r in guardrails if r.verdict == "worse"]:
        return Decision(variant, "stop: guardrail hurt", tuple(hurt))
    if primary.verdict == "not enough data":
        return Decision(variant, "not enough data", (primary.reason or primary.metric,), needed)
    if primary.verdict == "worse":
        return Decision(variant, "stop: primary hurt", (primary.metric,))
    unread = tuple(
        f"{r.metric}: not enough data" for r in guardrails if r.verdict == "not enough data"
    )
    if primary.verdict == "better" and not unread:
        return Decision(variant, "ship", (primary.metric,))
    return Decision(variant, "keep running", unread, needed)


def analyse(variants: Sequence[VariantData], plan: Plan) -> Results:
    """Results of ``variants`` (control first) under ``plan``."""
    if len(variants) < 2:
        raise ValueError("an experiment has a control and at least one other variant")
    control, others = variants[0], variants[1:]
    srm = srm_check([v.viewers for v in variants], [v.weight for v in variants], plan.srm_alpha)
    roles: dict[str, Role] = {plan.primary: "primary"}
    roles.update({g: "guardrail" for g in plan.guardrails if g != plan.primary})
    for v in variants:
        roles.update({m: "secondary" for m in v.metrics if m not in roles})
    rows: list[MetricResult] = []
    decisions: list[Decision] = []
    for variant in others:
        mine = [compare_metric(name, role, control, variant, plan) for name, role in roles.items()]
        needed = _units_needed(mine[0], control, plan)
        decisions.append(_decide(variant.key, mine, srm, needed))
        rows.extend(mine)
    return Results(srm, tuple(rows), tuple(decisions))
