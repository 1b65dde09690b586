"""The search attributes ops filter on in the Temporal UI: their names are in every run's
visibility record, in docs/operations.md and in the production cluster's setup."""

from __future__ import annotations

from temporalio.common import SearchAttributeIndexedValueType

from reelflow.lifecycle.search_attributes import (
    SEARCH_ATTRIBUTES,
    STAGE_ATTR,
    STATE_ATTR,
    TITLE_ID_ATTR,
)


def test_names_and_types_are_kept() -> None:
    assert [a.name for a in SEARCH_ATTRIBUTES] == [
        "ReelflowTitleId",
        "ReelflowStage",
        "ReelflowState",
    ]
    assert (TITLE_ID_ATTR, STAGE_ATTR, STATE_ATTR) == SEARCH_ATTRIBUTES
    for attr in SEARCH_ATTRIBUTES:
        assert attr.indexed_value_type == SearchAttributeIndexedValueType.KEYWORD
