from __future__ import annotations

import json

from temporalio.converter import DataConverter

from reelflow.domain.plans import coverage_ceilings, coverage_problems, is_tiny
from reelflow.lifecycle import contracts as c


def test_ceilings_below_the_source_only() -> None:
    assert coverage_ceilings(2160) == [1080, 540, 360]
    assert coverage_ceilings(720) == [540, 360]
    assert coverage_ceilings(540) == [360]
    assert coverage_ceilings(360) == []


def test_ladders_that_leave_a_viewer_out_are_named() -> None:
    assert coverage_problems([720], 720) == [
        "no rung at or below 540p",
        "no rung at or below 360p",
        "1 rung(s), need at least 3",
    ]
    assert coverage_problems([576, 576, 576, 576, 576], 576) == [
        "no rung at or below 540p",
        "no rung at or below 360p",
    ]
    assert coverage_problems([1080, 1080, 1080, 1080], 1080) == [
        "no rung at or below 540p",
        "no rung at or below 360p",
    ]
    assert coverage_problems([360, 720], 720) == ["2 rung(s), need at least 3"]
    assert coverage_problems([], 180) == ["no rungs"]
    assert coverage_problems([240, 432, 720], 720) == []
    assert is_tiny(240) and coverage_problems([240], 240) == [] and not is_tiny(241)


def test_title_status_from_an_older_worker_has_no_metric() -> None:
    """Status payloads recorded before ladder_metric existed still decode."""
    conv = DataConverter.default.payload_converter
    new = c.TitleStatus("t", 1, "processing", "encode", [], ladder_metric="vmaf")
    payload = conv.to_payloads([new])[0]
    old = json.loads(payload.data)
    del old["ladder_metric"]
    payload.data = json.dumps(old).encode()
    decoded = conv.from_payloads([payload], [c.TitleStatus])[0]
    assert decoded.ladder_metric is None and decoded.stage == "encode"
    assert conv.from_payloads(conv.to_payloads([new]), [c.TitleStatus])[0].ladder_metric == "vmaf"
