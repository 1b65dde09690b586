"""The unused-code check that `dev.sh test` runs: it passes on the tree and fails on dead code."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

CHECK = Path(__file__).resolve().parents[2] / "deploy" / "unused_code.py"


def _checker() -> ModuleType:
    spec = importlib.util.spec_from_file_location("unused_code", CHECK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["unused_code"] = module
    spec.loader.exec_module(module)
    return module


def test_the_tree_has_no_unused_code(capsys: pytest.CaptureFixture[str]) -> None:
    assert _checker().main() == 0
    assert "unused code: none" in capsys.readouterr().out


def test_an_uncalled_function_fails_the_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    module = tmp_path / "mod.py"
    module.write_text(
        "import typer\n"
        "app = typer.Typer()\n\n"
        "def used() -> int:\n    return 1\n\n"
        "def forgotten() -> int:\n    return used()\n\n"
        "@app.command()\n"
        "def cli_entry() -> None:\n    print(used())\n"
    )
    assert _checker().main([module]) == 1
    out = capsys.readouterr().out
    assert "unused function 'forgotten'" in out
    assert "cli_entry" not in out  # a framework entry point registered by its decorator
