"""``reelflow titles status``: the status table of a title's run."""

from __future__ import annotations

import pytest

from reelflow.cli.title_status import render_status
from reelflow.lifecycle import contracts as c


def test_status_lists_each_codec_ladder_on_its_own_line(capsys: pytest.CaptureFixture[str]) -> None:
    def rung(h: int, kbps: int, codec: str) -> c.RungSpec:
        return c.RungSpec(f"{codec}_{h}p", h * 16 // 9, h, kbps, codec)

    status = c.TitleStatus(
        "t1", 1, "published", "live", [],
        ladder=[rung(360, 300, "h264"), rung(720, 900, "h264"), rung(480, 250, "av1")],
        ladder_metric="vmaf",
    )  # fmt: skip
    render_status(status)
    out = capsys.readouterr().out
    assert "ladder (h264): 640x360@300k, 1280x720@900k" in out
    assert "ladder (av1): 853x480@250k" in out
    assert out.count("quality metric: vmaf") == 1

    status.ladder = status.ladder[:2]
    render_status(status)
    out = capsys.readouterr().out
    assert "ladder: 640x360@300k, 1280x720@900k" in out and "(h264)" not in out


def test_status_shows_stages_qc_and_errors(capsys: pytest.CaptureFixture[str]) -> None:
    status = c.TitleStatus(
        "t1", 2, "failed", "encode",
        [c.StageState("qc", "done", 100.0, "ok"), c.StageState("encode", "failed", 40.0, "boom")],
        qc_summary="1 warning", qc_warnings=["loudness -30 LUFS"], errors=["encode failed: boom"],
    )  # fmt: skip
    render_status(status)
    out = capsys.readouterr().out
    assert "t1 v2  state failed  stage encode" in out
    assert "QC: 1 warning" in out and "warn loudness -30 LUFS" in out
    assert "error: encode failed: boom" in out
    assert "ladder" not in out, "no ladder yet: no ladder line"
