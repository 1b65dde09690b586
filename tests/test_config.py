"""Settings: embedded defaults, generated secrets, production strictness, binary lookup."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest

from reelflow.config import ConfigError, Settings


def test_embedded_defaults_live_in_the_state_dir(tmp_path: Path) -> None:
    s = Settings(home=tmp_path)
    assert s.resolved_database_url == f"sqlite:///{tmp_path / 'catalog.db'}"
    assert s.resolved_store_root == tmp_path / "objects"
    assert s.resolved_public_base_url == "http://127.0.0.1:8000"


def test_env_vars_override_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("REELFLOW_HOME", str(tmp_path))
    monkeypatch.setenv("REELFLOW_MEDIA_QUEUE", "gpu-media")
    monkeypatch.setenv("REELFLOW_DATABASE_URL", "postgresql+psycopg://u@db/x")
    s = Settings()
    assert s.home == tmp_path and s.media_queue == "gpu-media"
    assert s.resolved_database_url == "postgresql+psycopg://u@db/x"


def test_secrets_are_generated_once_and_private(tmp_path: Path) -> None:
    first = Settings(home=tmp_path).secrets()
    again = Settings(home=tmp_path).secrets()
    assert first == again and len(first.master_key) == 32
    mode = stat.S_IMODE((tmp_path / "secrets.json").stat().st_mode)
    assert mode == 0o600


def test_production_requires_explicit_secrets(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="REELFLOW_MASTER_KEY"):
        Settings(home=tmp_path, env="production").secrets()
    assert not (tmp_path / "secrets.json").exists()
    key = base64.b64encode(b"k" * 32).decode()
    s = Settings(home=tmp_path, env="production", signing_secret="x" * 40, master_key=key)
    assert s.secrets().master_key == b"k" * 32


def test_bad_master_key_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="32 bytes"):
        Settings(home=tmp_path, signing_secret="s", master_key="c2hvcnQ=").secrets()


def test_missing_binary_names_the_fix(tmp_path: Path) -> None:
    s = Settings(home=tmp_path, ffmpeg_path=str(tmp_path / "no-ffmpeg"))
    with pytest.raises(ConfigError, match="REELFLOW_FFMPEG_PATH"):
        s.binary("ffmpeg")


def test_packager_found_in_node_modules() -> None:
    path = Settings().binary("packager")
    assert Path(path).name.startswith("packager") and Path(path).exists()
