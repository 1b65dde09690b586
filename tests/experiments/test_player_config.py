"""A variant config's "abr" part (experiments.player_config): only the player's settings, each
a number in its range, ordered pairs in order; checked where every definition is checked, so
the admin API and the CLI refuse the same configs. (The web player's copy of the list is
compared with this one in tests/web/test_experiments.py.)"""

from __future__ import annotations

from typing import Any

import pytest

from reelflow.experiments.assignment import InvalidExperiment
from reelflow.experiments.definitions import ExperimentIn, checked
from reelflow.experiments.player_config import ABR_SETTINGS, FIELD, ORDERED, check_abr
from tests.experiments.test_definitions import body


def _with(abr: Any) -> dict[str, Any]:
    return body(variants=[{"key": "control", "weight": 0.5, "config": {}},
                          {"key": "tuned", "weight": 0.5, "config": {"abr": abr}}])  # fmt: skip


def test_every_setting_at_both_ends_of_its_range_is_accepted() -> None:
    for name, rule in ABR_SETTINGS.items():
        for value in (rule.low, rule.high):
            alone = {name: value}
            # An ordered pair's other half at its own far end, so the pair stays in order.
            for lower, higher, _, _ in ORDERED:
                if name == lower:
                    alone[higher] = ABR_SETTINGS[higher].high
                if name == higher:
                    alone[lower] = ABR_SETTINGS[lower].low
            stored = checked(ExperimentIn.model_validate(_with(alone)))
            assert stored.variants[1].config == {"abr": alone}
    # Shaka's own paths, each one once (two names never set one thing).
    assert len({r.path for r in ABR_SETTINGS.values()}) == len(ABR_SETTINGS)
    assert all(r.path.split(".")[0] in ("abr", "streaming") for r in ABR_SETTINGS.values())
    # A config without an abr part, or with other parts, is not the player's to check.
    check_abr("other", {"model": "als", "artwork": {"policy": "personal"}})


@pytest.mark.parametrize(
    ("abr", "says"),
    [
        ({"enabled": False}, "unknown setting 'enabled'"),
        ({"abrFactory": "x"}, "unknown setting"),
        ({"restrictions": {"maxHeight": 720}}, "unknown setting 'restrictions'"),
        ({"defaultBandwidthEstimate": 1e10}, "defaultBandwidthEstimate must be a number"),
        ({"bandwidthUpgradeTarget": 0}, "bandwidthUpgradeTarget must be a number"),
        ({"maxHeight": "720"}, "maxHeight must be a number"),
        ({"switchInterval": True}, "switchInterval must be a number"),
        ({"bufferingGoal": None}, "bufferingGoal must be a number"),
        ({"bandwidthUpgradeTarget": 0.97}, "bandwidthUpgradeTarget (0.97) is above"),
        ({"bandwidthUpgradeTarget": 0.6, "bandwidthDowngradeTarget": 0.5}, "is above"),
        ({"minBandwidth": 2e6, "maxBandwidth": 1e6}, "minBandwidth (2e+06) is above"),
        ({"bufferingGoal": 3, "rebufferingGoal": 5}, "rebufferingGoal (5) is above"),
        ([1, 2], "abr must be an object"),
    ],
)
def test_a_setting_the_player_would_not_apply_is_refused_naming_it(abr: Any, says: str) -> None:
    with pytest.raises(InvalidExperiment) as refused:
        checked(ExperimentIn.model_validate(_with(abr)))
    assert refused.value.field == FIELD == "variants.config.abr"
    assert "variant tuned" in str(refused.value) and says in str(refused.value)


def test_nan_and_infinity_are_not_numbers_here() -> None:
    for value in (float("nan"), float("inf")):
        with pytest.raises(InvalidExperiment, match="must be a number"):
            check_abr("tuned", {"abr": {"switchInterval": value}})
