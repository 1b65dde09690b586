"""An activity's deps on a fresh SQLite catalog and a local store (quick, no services)."""

from __future__ import annotations

from pathlib import Path

import pytest

from reelflow.activities.deps import Deps
from reelflow.catalog import titles
from reelflow.catalog.db import make_engine, upgrade
from reelflow.config import Settings
from reelflow.storage import LocalStore


@pytest.fixture
def local_deps(tmp_path: Path) -> Deps:
    """Deps with the title ``film`` registered."""
    settings = Settings(home=tmp_path)
    upgrade(settings.resolved_database_url)
    engine = make_engine(settings.resolved_database_url)
    titles.upsert_title(engine, title_id="film", name="Film")
    return Deps(settings, engine, LocalStore(tmp_path / "objects"))
