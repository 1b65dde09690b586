"""pytest plugin: write the history of every workflow whose result a test awaits.

Only for recording new fixtures for ``test_title_workflow_replay.py`` (a workflow change
that is meant to be replay-compatible must pass against the old ones first)::

    RECORD_HISTORIES_DIR=/tmp/h .venv/bin/python -m pytest -p tests.workflows.record_histories \
        tests/workflows/test_title_workflow_orchestration.py
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowHandle

_result = WorkflowHandle.result


async def _recording_result(self: WorkflowHandle[Any, Any], *args: Any, **kwargs: Any) -> Any:
    try:
        return await _result(self, *args, **kwargs)
    finally:
        test = os.environ.get("PYTEST_CURRENT_TEST", "unknown").split(" ")[0].split("::")[-1]
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{test}__{self.id}")
        history = await self.fetch_history()
        out = Path(os.environ["RECORD_HISTORIES_DIR"])
        (out / f"{name}.json").write_text(history.to_json())


WorkflowHandle.result = _recording_result  # type: ignore[method-assign]
