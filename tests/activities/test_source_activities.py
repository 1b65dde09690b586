"""ingest_master stores the master under its content hash once and records the asset; a
source no retry can fix ends the run (non-retryable BadSource)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from reelflow.activities.deps import Deps
from reelflow.activities.source_activities import SourceActivities
from reelflow.catalog import assets as catalog_assets
from reelflow.lifecycle import contracts as c


def ingest(deps: Deps, source: str) -> c.IngestResult:
    result: c.IngestResult = ActivityEnvironment().run(
        SourceActivities(deps).ingest_master, c.IngestRequest("film", 1, source)
    )
    return result


def test_master_stored_by_content_hash_once(local_deps: Deps, tmp_path: Path) -> None:
    master = tmp_path / "master.mov"
    master.write_bytes(b"not really a movie" * 1000)
    sha = hashlib.sha256(master.read_bytes()).hexdigest()
    first = ingest(local_deps, str(master))
    assert first.master_key == f"masters/film/{sha}"
    assert (first.sha256, first.size_bytes, first.reused) == (sha, 18000, False)
    assert local_deps.store.get_bytes(first.master_key) == master.read_bytes()
    assert ingest(local_deps, str(master)).reused is True
    (asset,) = catalog_assets.title_assets(local_deps.engine, "film")
    assert (asset.master_key, asset.sha256) == (first.master_key, sha)


def test_a_missing_source_is_final(local_deps: Deps, tmp_path: Path) -> None:
    with pytest.raises(ApplicationError) as failed:
        ingest(local_deps, str(tmp_path / "nowhere.mov"))
    assert failed.value.type == "BadSource" and failed.value.non_retryable
