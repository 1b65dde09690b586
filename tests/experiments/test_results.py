"""Results from events (experiments.results) on simulated experiments written as Parquet and
read by the real DuckDB queries: a known lift in minutes watched is found and shipped, an
A/A experiment decides nothing, a start-up regression stops it as a guardrail, the numbers
match what was simulated, and the series over time ends where the results are."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from reelflow.catalog.experiments import Definition, ExperimentRow, VariantDef
from reelflow.events.queries import EventFiles
from reelflow.experiments.results import (
    NotStarted,
    Report,
    as_json,
    experiment_results,
    results_series,
)
from tests.experiments.event_files import files_at
from tests.experiments.simulated import Effect, Truth, simulate

START = datetime(2026, 12, 1, tzinfo=UTC)
HOURS = 48
NOW = START + timedelta(hours=HOURS)
VIEWERS = 2400
KEY = "abr-ladder"
LIFT = 1.25


def _row(*, status: str = "running", stopped_at: datetime | None = None,
         started_at: datetime | None = START) -> ExperimentRow:  # fmt: skip
    definition = Definition(
        key=KEY,
        variants=(VariantDef("control", 0.5, {}), VariantDef("fast", 0.5, {})),
        primary_metric="minutes_watched",
        guardrails=("startup_p90", "rebuffer_ratio"),
        mde=0.1,
    )
    return ExperimentRow(definition, status, START, START, started_at, stopped_at)


def _simulated(root: Path, treatment: Effect) -> tuple[EventFiles, Truth]:
    effects = {"control": Effect(), "fast": treatment}
    truth = simulate(root, key=KEY, start=START, hours=HOURS, viewers=VIEWERS, effects=effects,
                     seed=7)  # fmt: skip
    return files_at(root), truth


@pytest.fixture(scope="module")
def lifted(tmp_path_factory: pytest.TempPathFactory) -> tuple[EventFiles, Truth]:
    return _simulated(tmp_path_factory.mktemp("lift"), Effect(minutes=LIFT))


@pytest.fixture(scope="module")
def same(tmp_path_factory: pytest.TempPathFactory) -> tuple[EventFiles, Truth]:
    return _simulated(tmp_path_factory.mktemp("aa"), Effect())


def _metric(report: Report, name: str) -> tuple[object, ...]:
    [row] = [m for m in report.results.metrics if m.metric == name]
    return row.verdict, row.relative, row.control_value, row.value


def test_a_known_lift_in_minutes_is_found_and_shipped(lifted: tuple[EventFiles, Truth]) -> None:
    files, truth = lifted
    report = experiment_results(_row(), files, NOW)
    assert [(v.key, v.viewers, v.sessions) for v in report.variants] == [
        (k, truth.viewers[k], truth.sessions[k]) for k in ("control", "fast")
    ]
    verdict, relative, control, value = _metric(report, "minutes_watched")
    assert verdict == "better"
    assert relative is not None
    assert relative.sequential.low > 0 and relative.fixed.low > 0  # type: ignore[attr-defined]
    # The true lift (per viewer, both arms alike but for the factor) is inside the interval.
    assert relative.sequential.low < LIFT - 1 < relative.sequential.high  # type: ignore[attr-defined]
    assert control == pytest.approx(truth.minutes["control"] / truth.viewers["control"])
    assert value == pytest.approx(truth.minutes["fast"] / truth.viewers["fast"])
    assert not report.results.srm.mismatch
    [decision] = report.results.decisions
    assert (decision.variant, decision.hint) == ("fast", "ship")


def test_an_a_a_experiment_decides_nothing(same: tuple[EventFiles, Truth]) -> None:
    files, _ = same
    report = experiment_results(_row(), files, NOW)
    for name in ("minutes_watched", "startup_p90", "rebuffer_ratio"):
        assert _metric(report, name)[0] == "inconclusive", name
    assert not report.results.srm.mismatch
    [decision] = report.results.decisions
    assert decision.hint == "keep running"
    assert decision.units_needed is not None and decision.units_needed > VIEWERS  # for the MDE


def test_a_start_up_regression_stops_it_as_a_guardrail(tmp_path: Path) -> None:
    files, _ = _simulated(tmp_path, Effect(minutes=LIFT, startup=1.5))
    report = experiment_results(_row(), files, NOW)
    assert _metric(report, "startup_p90")[0] == "worse"
    assert _metric(report, "minutes_watched")[0] == "better"  # whatever the primary says
    [decision] = report.results.decisions
    assert (decision.hint, decision.reasons) == ("stop: guardrail hurt", ("startup_p90",))


def test_the_series_narrows_over_time_and_ends_at_the_results(
    lifted: tuple[EventFiles, Truth],
) -> None:
    files, _ = lifted
    series = results_series(_row(), files, NOW, "hour")
    assert len(series.points) == HOURS
    assert series.points[-1].t == NOW
    viewers = [sum(p.viewers) for p in series.points]
    assert viewers == sorted(viewers) and viewers[-1] == VIEWERS
    report = experiment_results(_row(), files, NOW)
    last = {(m["metric"], m["variant"]): m for m in series.points[-1].metrics}
    for m in report.results.metrics:
        rel = m.relative
        assert rel is not None
        point = last[(m.metric, m.variant)]
        assert point["sequential"] == [rel.sequential.low, rel.sequential.high]
        assert point["fixed"] == [rel.fixed.low, rel.fixed.high]

    def width(p: int) -> float:
        [m] = [m for m in series.points[p].metrics if m["metric"] == "minutes_watched"]
        return float(m["sequential"][1] - m["sequential"][0]) if m["sequential"] else math.inf

    assert width(-1) < width(HOURS // 4) < width(0)
    daily = results_series(_row(), files, NOW, "day")
    assert [p.t for p in daily.points] == [START + timedelta(days=1), NOW]
    for by_day, by_hour in zip(daily.points[-1].metrics, series.points[-1].metrics, strict=True):
        # The same data summed in another order: equal to the last bits of a float.
        assert by_day["sequential"] == pytest.approx(by_hour["sequential"], rel=1e-9)
        assert (by_day["metric"], by_day["units"]) == (by_hour["metric"], by_hour["units"])


def test_a_stopped_experiment_reads_as_of_its_stop(same: tuple[EventFiles, Truth]) -> None:
    files, _ = same
    stop = START + timedelta(hours=12)
    report = experiment_results(_row(status="stopped", stopped_at=stop), files, NOW)
    assert report.as_of == stop
    assert 0 < sum(v.viewers for v in report.variants) < VIEWERS  # the later ones left out
    series = results_series(_row(status="stopped", stopped_at=stop), files, NOW)
    assert series.bucket == "hour" and len(series.points) == 12


def test_a_draft_has_no_results_and_a_report_is_valid_json(
    same: tuple[EventFiles, Truth],
) -> None:
    files, _ = same
    with pytest.raises(NotStarted):
        experiment_results(_row(status="draft", started_at=None), files, NOW)
    # Just started: no exposure yet, every figure undefined yet valid JSON (no NaN).
    data = as_json(experiment_results(_row(started_at=NOW), files, NOW))
    text = json.dumps(data, allow_nan=False)
    assert data["variants"][0]["viewers"] == 0 and "not enough data" in text
    # which way is better travels with the answer (the console keeps no copy of its own)
    definitions = data["metric_definitions"]
    assert definitions["startup_p90"]["higher_is_better"] is False
    assert definitions["minutes_watched"]["higher_is_better"] is True
    assert definitions["rebuffer_ratio"]["kind"] == "ratio"
