"""The encode stage's pure parts; its commands are test_title_workflow_orchestration.py's
(fan-out, progress, extra codec ladders) and the recorded histories'."""

from __future__ import annotations

from reelflow.lifecycle import contracts as c
from reelflow.workflows.encoding import worker_spread


def _chunk(index: int, worker: str) -> c.EncodeChunkResult:
    return c.EncodeChunkResult(index, {}, reused=False, worker=worker)


def test_worker_spread_counts_chunks_per_worker_in_name_order() -> None:
    results = [_chunk(0, "9@b"), _chunk(1, "7@a"), _chunk(2, "9@b"), _chunk(3, "9@b")]
    assert worker_spread(results) == "7@a 1, 9@b 3"


def test_chunks_from_older_workers_name_no_worker() -> None:
    assert worker_spread([_chunk(0, ""), _chunk(1, "")]) == ""
    assert worker_spread([_chunk(0, ""), _chunk(1, "1@h")]) == "1@h 1"
