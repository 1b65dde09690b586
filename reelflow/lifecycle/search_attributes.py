"""Custom search attributes ops filter on in the Temporal UI (kept I/O-free for workflows)."""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

TITLE_ID_ATTR = SearchAttributeKey.for_keyword("ReelflowTitleId")
STAGE_ATTR = SearchAttributeKey.for_keyword("ReelflowStage")
# The lifecycle state (TitleStatus.state): `ReelflowState="failed"` in the UI lists the
# titles whose lifecycle broke (a QC failure is "qc_failed", a business outcome).
STATE_ATTR = SearchAttributeKey.for_keyword("ReelflowState")
SEARCH_ATTRIBUTES: tuple[SearchAttributeKey[str], ...] = (TITLE_ID_ATTR, STAGE_ATTR, STATE_ATTR)
