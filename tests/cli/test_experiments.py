"""`reelflow experiments` on a real catalog and event files: create from a spec file, list,
show with the audit trail, start, stop, results (text, --json, --series), and every refusal a
message with a non-zero exit."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from reelflow.catalog.db import upgrade
from reelflow.cli.app import app
from reelflow.config import get_settings
from tests.experiments.event_files import event, exposure, qoe, write
from tests.experiments.test_definitions import body

runner = CliRunner()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("REELFLOW_HOME", str(tmp_path / "state"))
    get_settings.cache_clear()
    get_settings().ensure_home()
    upgrade(get_settings().resolved_database_url)
    try:
        yield tmp_path
    finally:
        get_settings.cache_clear()


def _cli(*args: str) -> Any:
    return runner.invoke(app, ["experiments", *args])


def _spec(home: Path, **changes: Any) -> str:
    path = home / "spec.json"
    path.write_text(json.dumps(body(**changes)))
    return str(path)


def test_an_experiment_from_file_to_results(home: Path) -> None:
    made = _cli("create", "--file", _spec(home))
    assert made.exit_code == 0, made.output
    assert json.loads(made.output)["status"] == "draft"
    listed = _cli("list")
    assert listed.output.split("\t")[:3] == ["abr-ladder", "draft", "minutes_watched"]
    started = _cli("start", "abr-ladder")
    assert started.exit_code == 0 and "running since" in started.output

    # Two viewers exposed since the start, one of them watched.
    at = datetime.fromisoformat(json.loads(_cli("show", "abr-ladder").output)["started_at"])
    write(get_settings().resolved_store_root, [
        event("session_start", "v_1", "s1", at, title="t1"),
        exposure("v_1", "s1", at, "abr-ladder", "control"),
        qoe("v_1", "s1", at, startup_ms=900.0, played_ms=60_000.0),
        exposure("v_2", "s2", at, "abr-ladder", "fast"),
    ])  # fmt: skip
    report = json.loads(_cli("results", "abr-ladder", "--json").output)
    assert [(v["key"], v["viewers"], v["sessions"]) for v in report["variants"]] == [
        ("control", 1, 1), ("fast", 1, 1),
    ]  # fmt: skip
    [primary] = [m for m in report["results"]["metrics"] if m["metric"] == "minutes_watched"]
    assert (primary["control_value"], primary["value"]) == (1.0, 0.0)
    assert primary["verdict"] == "not enough data"
    text = _cli("results", "abr-ladder")
    assert text.exit_code == 0, text.output
    assert "SRM ok" in text.output and "decision fast: not enough data" in text.output
    series = json.loads(_cli("results", "abr-ladder", "--series").output)
    assert series["bucket"] == "hour" and series["points"][-1]["viewers"] == [1, 1]

    assert "stopped at" in _cli("stop", "abr-ladder").output
    shown = json.loads(_cli("show", "abr-ladder").output)
    assert [(a["action"], a["actor"]) for a in shown["audit"]] == [
        ("create", "cli"), ("start", "cli"), ("stop", "cli"),
    ]  # fmt: skip
    assert json.loads(_cli("list", "--status", "stopped", "--json").output)["key"] == "abr-ladder"


@pytest.mark.parametrize(
    ("args", "code", "said"),
    [
        (("show", "nope"), 1, "no experiment 'nope'"),
        (("start", "nope"), 1, "no experiment 'nope'"),
        (("results", "nope"), 1, "no experiment 'nope'"),
        (("list", "--status", "paused"), 2, "--status"),
        (("results", "abr-ladder", "--series", "--bucket", "week"), 2, "--bucket"),
        (("create", "--file", "/no/such/spec.json"), 2, "cannot read"),
    ],
)
def test_refusals_are_messages_and_exit_codes(
    home: Path, args: tuple[str, ...], code: int, said: str
) -> None:
    result = _cli(*args)
    assert result.exit_code == code, result.output
    assert said in result.output


def test_a_bad_spec_is_named_and_a_started_one_cannot_start_again(home: Path) -> None:
    bad = _cli("create", "--file", _spec(home, target={"devices": ["fridge"]}))
    assert bad.exit_code == 2 and "target.devices" in bad.output
    (home / "broken.json").write_text('{"key": ')
    broken = _cli("create", "--file", str(home / "broken.json"))
    assert broken.exit_code == 2 and "json" in broken.output.lower()
    shape = _cli("create", "--file", _spec(home, variants=[{"key": "a", "weight": "half"}]))
    assert shape.exit_code == 2 and "variants.0.weight" in shape.output
    assert _cli("list").output == ""
    assert _cli("create", "--file", _spec(home)).exit_code == 0
    assert "has not started" in _cli("results", "abr-ladder").output
    assert _cli("create", "--file", _spec(home)).exit_code == 1  # the key is taken
    assert _cli("start", "abr-ladder").exit_code == 0
    again = _cli("start", "abr-ladder")
    assert again.exit_code == 1 and "only a draft can start" in again.output
