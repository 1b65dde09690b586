"""The stage bookkeeping the status query shows (no workflow needed for the parts that
issue no command; ``_begin`` and ``_set_state`` upsert search attributes and are covered
by test_title_workflow_orchestration.py)."""

from __future__ import annotations

from reelflow.workflows.stages import STAGES, TitleRunState


def test_every_stage_starts_pending() -> None:
    run = TitleRunState()
    assert list(run._stages) == list(STAGES)
    assert {s.state for s in run._stages.values()} == {"pending"}
    assert (run._state, run._stage) == ("ingesting", "ingest")


def test_done_skip_and_fail_record_their_detail() -> None:
    run = TitleRunState()
    run._done("ingest", "1 bytes")
    run._skip("audio", "source has no audio")
    run._fail("qc", "no video")
    assert (run._stages["ingest"].state, run._stages["ingest"].progress) == ("done", 100.0)
    assert run._stages["ingest"].detail == "1 bytes"
    assert (run._stages["audio"].state, run._stages["audio"].detail) == (
        "skipped",
        "source has no audio",
    )
    assert (run._stages["qc"].state, run._stages["qc"].detail) == ("failed", "no video")


def test_skip_rest_skips_every_later_stage_only() -> None:
    run = TitleRunState()
    run._skip_rest("approval")
    after = STAGES[STAGES.index("approval") + 1 :]
    assert all(run._stages[n].state == "skipped" for n in after)
    assert all(run._stages[n].state == "pending" for n in ("ingest", "qc", "approval"))
