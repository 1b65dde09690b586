"""What a variant's config may ask of the home: the recommendation model that ranks its rows.

A variant config's ``"recs_model"`` names the model the home's rows (and the search's
personal order) come from for viewers in that variant, for example::

    {"recs_model": "popularity"}

The API reads it where it builds the home (playback_api/delivery/recs_variant.py) and logs
the exposure there. Anything but one of ``RECS_MODELS`` is refused at create time
(``InvalidExperiment`` on ``variants.config.recs_model``: a 422), so a running experiment
never names a model the serving side does not have. The names are recs.viewer_recs's
``RECS_MODELS`` (a sibling package this one may not import; tests/experiments/
test_recs_config.py checks the two lists are the same).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reelflow.experiments.assignment import InvalidExperiment

RECS_MODEL_KEY = "recs_model"
RECS_MODELS = ("hybrid", "popularity")
FIELD = f"variants.config.{RECS_MODEL_KEY}"


def check_recs(variant: str, config: Mapping[str, Any]) -> None:
    """Refuse (``InvalidExperiment``) a ``recs_model`` that is not a known model; a config
    without one passes."""
    if RECS_MODEL_KEY not in config:
        return
    model = config[RECS_MODEL_KEY]
    if not isinstance(model, str) or model not in RECS_MODELS:
        known = ", ".join(RECS_MODELS)
        raise InvalidExperiment(
            FIELD, f"variant {variant}: {model!r} is not a recommendation model; known: {known}"
        )
