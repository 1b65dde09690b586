"""Expiry/takedown with purge deletes one version's files, never another version's.

Real LocalStore, the real catalog on SQLite and PostgreSQL; the object keys are the ones
media_activities and packaging_activities write (content-hash keyed, packages by version).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from temporalio.testing import ActivityEnvironment

from reelflow.activities.deps import Deps
from reelflow.activities.publish_activities import PublishActivities
from reelflow.catalog import assets as catalog_assets
from reelflow.catalog import titles as q
from reelflow.catalog.db import session_scope
from reelflow.catalog.models import Package, Rendition, utcnow
from reelflow.config import Settings
from reelflow.lifecycle import contracts as c
from reelflow.storage import LocalStore

SHA = {1: "1" * 64, 2: "2" * 64}
SUB = {1: "a" * 16, 2: "b" * 16}


def version_files(title: str, version: int, sha: str, sub: str) -> list[str]:
    h = sha[:16]
    return [
        f"masters/{title}/{sha}",
        f"qc/{title}/{h}-0badc0de.json",
        f"ladders/{title}/{h}-0badc0de.json",
        f"ladders/{title}/{h}-0badc0de-chunks-77.json",
        f"renditions/{title}/{h}-abc/v720.mp4",
        f"renditions/{title}/{h}-def/parts/0/v720.mp4",
        f"images/{title}/{h}/poster_600x900.jpg",
        f"subtitles/{title}/{sub}/en.vtt",
        f"packages/{title}/v{version}/0badc0de/manifest.mpd",
        f"origin/{title}/v{version}/manifest.mpd",
    ]


def deliver(deps: Deps, title: str, version: int, sha: str, sub: str) -> list[str]:
    q.upsert_title(deps.engine, title_id=title, name="Film", version=version)
    catalog_assets.record_asset(
        deps.engine,
        title_id=title,
        version=version,
        master_key=f"masters/{title}/{sha}",
        sha256=sha,
        size_bytes=1,
    )
    catalog_assets.upsert_rendition(
        deps.engine,
        Rendition(
            title_id=title,
            version=version,
            kind="subtitle",
            name="sub-en",
            object_key=f"subtitles/{title}/{sub}/en.vtt",
            language="en",
        ),
    )
    with session_scope(deps.engine) as s:
        origin = f"origin/{title}/v{version}"
        s.add(Package(title_id=title, version=version, origin_prefix=origin, published_at=utcnow()))
    files = version_files(title, version, sha, sub)
    for key in files:
        deps.store.put_bytes(key, key.encode())
    return files


@pytest.fixture
def deps(tmp_path: Path, catalog: Engine) -> Deps:
    return Deps(Settings(home=tmp_path), catalog, LocalStore(tmp_path / "objects"))


def purge(deps: Deps, title: str, version: int) -> None:
    ActivityEnvironment().run(
        PublishActivities(deps).expire_title,
        c.ExpireRequest(title, version, "taken_down", "test", purge=True),
    )


def present(deps: Deps, keys: list[str]) -> list[str]:
    return [k for k in keys if deps.store.exists(k)]


def test_purging_v2_keeps_v1_and_other_titles(deps: Deps) -> None:
    v1 = deliver(deps, "film", 1, SHA[1], SUB[1])
    v2 = deliver(deps, "film", 2, SHA[2], SUB[2])
    # Another title whose id starts like this one's: its prefixes must not match.
    other = deliver(deps, "film-2", 1, SHA[2], SUB[2])
    purge(deps, "film", 2)
    assert present(deps, v1) == v1
    assert present(deps, other) == other
    # v2's origin copy goes with the package (_unpublish); everything else of v2 is purged.
    assert present(deps, v2) == []


def test_a_master_delivered_twice_is_kept_for_the_other_version(deps: Deps) -> None:
    v1 = deliver(deps, "film", 1, SHA[1], SUB[1])
    v2 = deliver(deps, "film", 2, SHA[1], SUB[1])  # the same bytes and subtitles again
    purge(deps, "film", 1)
    # Shared, content-keyed files stay for v2; v1's own package and origin copy go.
    shared = [k for k in v1 if "/v1/" not in k]
    assert present(deps, v1) == shared
    assert present(deps, v2) == v2


def test_purge_of_v1_spares_v10(deps: Deps) -> None:
    deliver(deps, "film", 1, SHA[1], SUB[1])
    v10 = deliver(deps, "film", 10, SHA[2], SUB[2])
    purge(deps, "film", 1)
    assert present(deps, v10) == v10
