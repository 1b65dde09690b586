"""TitleWorkflow's interface and what its module loads.

The name, signals and queries are what starters, the CLI, the studio API and recorded
histories call it by; the modules are what the workflow sandbox re-imports for every run.
Its behaviour is tests/workflows/test_title_workflow_orchestration.py (time-skipping
server), test_title_workflow_replay.py (recorded histories) and the dev-server tests.
"""

from __future__ import annotations

import subprocess
import sys

from temporalio.workflow import _Definition

from reelflow.workflows.title import TitleWorkflow


def test_name_signals_and_queries_are_kept() -> None:
    defn = _Definition.must_from_class(TitleWorkflow)
    assert defn.name == "TitleWorkflow"
    assert set(defn.signals) == {"approve", "reject", "takedown", "supersede", "update_window"}
    assert set(defn.queries) == {"status"}


def test_workflow_module_loads_no_activity_code() -> None:
    """The workflow sandbox re-imports what the workflow imports: keep it to the workflow's
    own modules, the lifecycle contracts and the domain rules it uses."""
    code = (
        "import sys, reelflow.workflows.title; "
        "print(' '.join(m for m in sys.modules if m.startswith('reelflow')))"
    )
    loaded = set(
        subprocess.run(
            [sys.executable, "-c", code], check=True, capture_output=True, text=True
        ).stdout.split()
    )
    assert loaded == {
        "reelflow",
        "reelflow.domain",
        "reelflow.domain.ids",
        "reelflow.domain.track_classes",
        "reelflow.lifecycle",
        "reelflow.lifecycle.activity_defs",
        "reelflow.lifecycle.contracts",
        "reelflow.lifecycle.events_upkeep",  # the upkeep's contracts, via activity_defs
        "reelflow.lifecycle.live_channels",  # the live channel's contracts, via activity_defs
        "reelflow.lifecycle.recs_training",  # the training's contracts, via activity_defs
        "reelflow.lifecycle.search_attributes",
        "reelflow.workflows",
        "reelflow.workflows.approval",
        "reelflow.workflows.availability",
        "reelflow.workflows.calls",
        "reelflow.workflows.encoding",
        "reelflow.workflows.media_stages",
        "reelflow.workflows.patches",
        "reelflow.workflows.publishing",
        "reelflow.workflows.stages",
        "reelflow.workflows.title",
    }
