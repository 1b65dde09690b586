"""Overall progress from the workflow's status query: 100 % means published."""

from __future__ import annotations

from reelflow.lifecycle import contracts as c
from reelflow.lifecycle.progress import STAGE_WEIGHTS, overall_percent
from reelflow.workflows.stages import STAGES


def status(**states: str) -> c.TitleStatus:
    stages = [c.StageState(name=n, state=states.get(n, "pending")) for n in STAGES]
    return c.TitleStatus("t", 1, "processing", "encode", stages)


def test_every_stage_before_live_has_a_weight() -> None:
    assert set(STAGES) - set(STAGE_WEIGHTS) == {"live"}


def test_progress_reaches_100_only_when_published() -> None:
    before_publish = {n: "done" for n in STAGES if n not in ("publish", "live")}
    assert overall_percent(status(**before_publish)) < 100
    assert overall_percent(status(**before_publish, publish="done")) == 100
    running = status(ingest="done", qc="done", approval="skipped")
    running.stages[STAGES.index("analyse")] = c.StageState("analyse", "running", 50.0)
    assert 0 < overall_percent(running) < 30
