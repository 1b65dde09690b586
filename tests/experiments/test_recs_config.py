"""What a variant's config may ask of the home (experiments/recs_config.py): one of the
models the recommender serves, the same list as recs.viewer_recs's."""

from __future__ import annotations

from typing import Any

import pytest

from reelflow.experiments.assignment import InvalidExperiment
from reelflow.experiments.recs_config import RECS_MODELS, check_recs
from reelflow.recs import viewer_recs


def test_the_list_is_the_recommenders() -> None:
    assert RECS_MODELS == viewer_recs.RECS_MODELS


@pytest.mark.parametrize("config", [{}, {"recs_model": "hybrid"}, {"recs_model": "popularity"}])
def test_known_models_and_configs_without_one_pass(config: dict[str, Any]) -> None:
    check_recs("v", config)


@pytest.mark.parametrize("model", ["als", "", "HYBRID", None, 1, ["hybrid"], {"x": 1}])
def test_anything_else_is_refused_naming_the_field_and_variant(model: object) -> None:
    with pytest.raises(InvalidExperiment) as refused:
        check_recs("treat", {"recs_model": model})
    assert refused.value.field == "variants.config.recs_model"
    assert "treat" in str(refused.value) and "hybrid, popularity" in str(refused.value)
