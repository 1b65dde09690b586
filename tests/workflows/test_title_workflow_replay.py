"""Replay of recorded TitleWorkflow histories against the current workflow code.

Runs still in flight when a worker picks up new code are replayed from their history, so a
change that issues different commands (activities, timers, signals, search attributes) or
issues them in a different order breaks them with a non-determinism error. These histories
(``compact__*``: recorded after the issue-11 changes, on their patched path) were recorded
from the tests of ``test_title_workflow_orchestration.py`` and
``test_title_lifecycle_dev_server.py`` (``tests/workflows/record_histories.py``); a failure
here means the change needs ``workflow.patched`` or a new workflow type, not new histories.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from reelflow.workflows.patches import AV1_ALONGSIDE, COMPACT_LIFECYCLE
from reelflow.workflows.title import TitleWorkflow

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json.gz"))


def test_histories_are_there() -> None:
    # An empty glob would make the parametrized test below vanish instead of fail.
    assert len(HISTORIES) >= 50


def test_compact_histories_take_the_patched_path() -> None:
    """``compact__*`` were recorded under COMPACT_LIFECYCLE, the others before it: both
    paths stay covered until the patch is deprecated (docs/operations.md)."""
    for path in HISTORIES:
        history = WorkflowHistory.from_json(path.stem, gzip.decompress(path.read_bytes()).decode())
        patches = [
            payload.data
            for event in history.events
            if event.HasField("marker_recorded_event_attributes")
            for payload in event.marker_recorded_event_attributes.details["patch-data"].payloads
        ]
        marked = any(COMPACT_LIFECYCLE.encode() in data for data in patches)
        assert marked == path.name.startswith("compact__"), path.name
        # ``*av1_alongside__*``: a title with extra_codecs (issue 14), on that patch's path.
        two_codecs = any(AV1_ALONGSIDE.encode() in data for data in patches)
        assert two_codecs == ("av1_alongside__" in path.name), path.name


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.name.removesuffix(".json.gz"))
async def test_recorded_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, gzip.decompress(path.read_bytes()).decode())
    result = await Replayer(workflows=[TitleWorkflow]).replay_workflow(
        history, raise_on_replay_failure=False
    )
    assert result.replay_failure is None, f"{path.name}: {result.replay_failure!r}"
