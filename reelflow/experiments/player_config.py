"""What a variant's config may ask of the web player: Shaka's ABR and buffering settings.

A variant's config travels in the playback start's answer (``experiments``), and the web
player applies its ``"abr"`` part (reelflow/web/experiments.js), for example::

    {"abr": {"defaultBandwidthEstimate": 3000000, "bandwidthUpgradeTarget": 0.7}}

``ABR_SETTINGS`` is the one list of what that part may hold: each name, the Shaka
configuration it sets and the range its value must lie in. A definition whose ``abr`` part
names anything else, or a value outside its range or not a number, is refused at create
time (``InvalidExperiment`` on ``variants.config.abr``: a 422). The player holds the same
table (tests/web/test_experiments.py compares the two) and ignores whatever fails it, so
nothing outside the list ever reaches Shaka; docs/experiments.md lists it for admins. The
rest of a config (a recommendation model, an artwork policy) is not the player's and is
not checked here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reelflow.experiments.assignment import InvalidExperiment

FIELD = "variants.config.abr"


@dataclass(frozen=True)
class AbrSetting:
    path: str  # where it goes in Shaka's player.configure()
    low: float
    high: float
    unit: str


ABR_SETTINGS: dict[str, AbrSetting] = {
    # The first estimate: which rung the first segment comes from (replaces abr.js's).
    "defaultBandwidthEstimate": AbrSetting("abr.defaultBandwidthEstimate", 5e4, 1e9, "bit/s"),
    # Shares of the estimate a rung may use to be switched up to / to be kept.
    "bandwidthUpgradeTarget": AbrSetting("abr.bandwidthUpgradeTarget", 0.05, 1.0, "share"),
    "bandwidthDowngradeTarget": AbrSetting("abr.bandwidthDowngradeTarget", 0.05, 1.0, "share"),
    "switchInterval": AbrSetting("abr.switchInterval", 0.0, 60.0, "s"),
    # How fast the bandwidth estimate follows the link (its two moving averages).
    "fastHalfLife": AbrSetting("abr.advanced.fastHalfLife", 0.1, 60.0, "s"),
    "slowHalfLife": AbrSetting("abr.advanced.slowHalfLife", 0.1, 120.0, "s"),
    # Rungs ABR may choose from (the plan's own limits still apply on the server).
    "minBandwidth": AbrSetting("abr.restrictions.minBandwidth", 0.0, 1e9, "bit/s"),
    "maxBandwidth": AbrSetting("abr.restrictions.maxBandwidth", 5e4, 1e9, "bit/s"),
    "maxHeight": AbrSetting("abr.restrictions.maxHeight", 144, 4320, "px"),
    # Seconds of media to buffer ahead, and to have before playing on after a stall.
    "bufferingGoal": AbrSetting("streaming.bufferingGoal", 2.0, 120.0, "s"),
    "rebufferingGoal": AbrSetting("streaming.rebufferingGoal", 0.0, 30.0, "s"),
}

# Pairs that must stay in order (lower, higher), each with Shaka's default for the one a
# config leaves out: an upgrade target above the downgrade target switches up and back down
# on the same estimate.
ORDERED: tuple[tuple[str, str, float, float], ...] = (
    ("bandwidthUpgradeTarget", "bandwidthDowngradeTarget", 0.85, 0.95),
    ("fastHalfLife", "slowHalfLife", 2.0, 5.0),
    ("minBandwidth", "maxBandwidth", 0.0, math.inf),
    ("rebufferingGoal", "bufferingGoal", 0.0, 10.0),
)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def check_abr(variant: str, config: Mapping[str, Any]) -> None:
    """Refuse (``InvalidExperiment``) a variant config whose ``abr`` part the player would
    not apply whole; a config without one passes."""
    if "abr" not in config:
        return
    abr = config["abr"]
    if not isinstance(abr, Mapping):
        raise InvalidExperiment(FIELD, f"variant {variant}: abr must be an object of settings")
    for name, value in abr.items():
        rule = ABR_SETTINGS.get(name)
        if rule is None:
            known = ", ".join(ABR_SETTINGS)
            raise InvalidExperiment(
                FIELD, f"variant {variant}: unknown setting {name!r}; known: {known}"
            )
        if not _number(value) or not rule.low <= value <= rule.high:
            raise InvalidExperiment(
                FIELD,
                f"variant {variant}: {name} must be a number from {rule.low:g} to "
                f"{rule.high:g} ({rule.unit}), not {value!r}",
            )
    for lower, higher, lower_default, higher_default in ORDERED:
        if lower in abr or higher in abr:
            low, high = abr.get(lower, lower_default), abr.get(higher, higher_default)
            if low > high:
                raise InvalidExperiment(
                    FIELD, f"variant {variant}: {lower} ({low:g}) is above {higher} ({high:g})"
                )
