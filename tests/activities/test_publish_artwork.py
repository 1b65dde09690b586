"""publish_title copies artwork next to the package and records it, idempotently."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlmodel import Session, select
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from reelflow.activities.deps import Deps
from reelflow.activities.publish_activities import PublishActivities
from reelflow.catalog import titles as q
from reelflow.catalog.db import make_engine, upgrade
from reelflow.catalog.models import Package
from reelflow.config import Settings
from reelflow.lifecycle import contracts as c
from reelflow.storage import LocalStore

PKG = "packages/film/1/abc123"
IMAGES = "images/film/0123456789abcdef/art"
FILES = ["manifest.mpd", "master.m3u8", "video/init.mp4", "thumbs/thumbnails.vtt", "thumbs/s1.jpg"]


@pytest.fixture
def deps(tmp_path: Path) -> Deps:
    settings = Settings(home=tmp_path)
    upgrade(settings.resolved_database_url)
    engine = make_engine(settings.resolved_database_url)
    store = LocalStore(tmp_path / "objects")
    q.upsert_title(engine, title_id="film", name="Film")
    for rel in FILES:
        store.put_bytes(f"{PKG}/{rel}", f"package {rel}".encode())
    for name in ("poster_600x900.jpg", "poster_300x450.jpg", "backdrop_1280x720.jpg"):
        store.put_bytes(f"{IMAGES}/{name}", f"image {name}".encode())
    return Deps(settings, engine, store)


def request(files: list[str] = FILES, **kwargs: list[str]) -> c.PublishRequest:
    package = c.PackageInfo(
        package_prefix=PKG,
        mpd="manifest.mpd",
        hls_master="master.m3u8",
        files=list(files),
        drm_systems=[],
        kids={},
        representations=[],
        verify_summary="ok",
    )
    return c.PublishRequest("film", 1, package, **kwargs)


def publish(deps: Deps, req: c.PublishRequest) -> c.PublishResult:
    result: c.PublishResult = ActivityEnvironment().run(PublishActivities(deps).publish_title, req)
    return result


def package_row(deps: Deps) -> Package:
    with Session(deps.engine) as s:
        rows = s.exec(select(Package).where(Package.title_id == "film")).all()
    assert len(rows) == 1
    return rows[0]


def test_artwork_is_copied_to_origin_and_recorded(deps: Deps) -> None:
    req = request(
        poster_keys=[f"{IMAGES}/poster_600x900.jpg", f"{IMAGES}/poster_300x450.jpg"],
        backdrop_keys=[f"{IMAGES}/backdrop_1280x720.jpg"],
    )
    result = publish(deps, req)
    origin = result.origin_prefix
    assert origin == "origin/film/v1"

    row = package_row(deps)
    assert row.artwork == {
        "poster": ["art/poster_600x900.jpg", "art/poster_300x450.jpg"],
        "backdrop": ["art/backdrop_1280x720.jpg"],
        "thumbnails": ["thumbs/thumbnails.vtt"],
    }
    for kind_paths in (row.artwork["poster"], row.artwork["backdrop"]):
        for rel in kind_paths:
            name = rel.rsplit("/", 1)[-1]
            assert deps.store.get_bytes(f"{origin}/{rel}") == f"image {name}".encode()


def test_a_retried_publish_changes_nothing(deps: Deps) -> None:
    req = request(
        poster_keys=[f"{IMAGES}/poster_600x900.jpg"],
        backdrop_keys=[f"{IMAGES}/backdrop_1280x720.jpg"],
    )
    first = publish(deps, req)
    before = package_row(deps)
    origin_keys = sorted(i.key for i in deps.store.list(f"{first.origin_prefix}/art/"))
    # A copy that exists is left alone (it could be mid-read by the API).
    modified = deps.store.stat(f"{first.origin_prefix}/art/poster_600x900.jpg").modified

    second = publish(deps, req)
    after = package_row(deps)
    assert (first.newly_published, second.newly_published) == (True, False)
    assert after.artwork == before.artwork
    assert after.published_at == before.published_at
    assert sorted(i.key for i in deps.store.list(f"{first.origin_prefix}/art/")) == origin_keys
    assert deps.store.stat(f"{first.origin_prefix}/art/poster_600x900.jpg").modified == modified


def test_a_retry_copies_what_an_interrupted_attempt_missed(deps: Deps) -> None:
    req = request(poster_keys=[f"{IMAGES}/poster_600x900.jpg", f"{IMAGES}/poster_300x450.jpg"])
    publish(deps, req)
    deps.store.delete("origin/film/v1/art/poster_300x450.jpg")
    publish(deps, req)
    assert deps.store.exists("origin/film/v1/art/poster_300x450.jpg")


def test_no_artwork_and_no_thumbnails_record_empty_lists(deps: Deps) -> None:
    publish(deps, request(files=["manifest.mpd", "master.m3u8", "video/init.mp4"]))
    assert package_row(deps).artwork == {"poster": [], "backdrop": [], "thumbnails": []}
    assert not list(deps.store.list("origin/film/v1/art/"))


def test_two_sources_with_one_file_name_are_refused(deps: Deps) -> None:
    deps.store.put_bytes("images/film/other/art/poster_600x900.jpg", b"another image")
    req = request(
        poster_keys=[f"{IMAGES}/poster_600x900.jpg", "images/film/other/art/poster_600x900.jpg"]
    )
    with pytest.raises(ApplicationError, match="share the name") as info:
        publish(deps, req)
    assert info.value.non_retryable


def test_a_file_list_by_key_is_read_from_the_store(deps: Deps) -> None:
    """The compact path: the workflow carries package.json's key, not one name per segment."""
    deps.store.put_bytes(f"{PKG}/package.json", json.dumps({"files": FILES}).encode())
    req = request(files=[])
    req.package.files_key, req.package.file_count = f"{PKG}/package.json", len(FILES)
    origin = publish(deps, req).origin_prefix
    assert all(deps.store.exists(f"{origin}/{rel}") for rel in FILES)
    assert package_row(deps).artwork["thumbnails"] == ["thumbs/thumbnails.vtt"]


def test_a_file_list_that_does_not_match_its_count_is_refused(deps: Deps) -> None:
    deps.store.put_bytes(f"{PKG}/package.json", json.dumps({"files": FILES[:2]}).encode())
    req = request(files=[])
    req.package.files_key, req.package.file_count = f"{PKG}/package.json", len(FILES)
    with pytest.raises(ApplicationError, match="lists 2 files, the package had 5"):
        publish(deps, req)


def test_artwork_candidates_next_to_the_keys_are_published_whole(deps: Deps) -> None:
    """Alternates (c<n>_ names beside candidate 0) go under "candidates"; candidate 0 stays
    "poster"/"backdrop" exactly; a candidate missing one size is not published."""
    names = ("poster_600x900.jpg", "poster_300x450.jpg", "backdrop_1280x720.jpg")
    for name in names:
        deps.store.put_bytes(f"{IMAGES}/c1_{name}", f"candidate 1 {name}".encode())
    for name in names[:2]:  # candidate 2 lacks its backdrop
        deps.store.put_bytes(f"{IMAGES}/c2_{name}", f"candidate 2 {name}".encode())
    req = request(
        poster_keys=[f"{IMAGES}/poster_600x900.jpg", f"{IMAGES}/poster_300x450.jpg"],
        backdrop_keys=[f"{IMAGES}/backdrop_1280x720.jpg"],
    )
    origin = publish(deps, req).origin_prefix
    artwork = package_row(deps).artwork
    assert artwork["poster"] == ["art/poster_600x900.jpg", "art/poster_300x450.jpg"]
    assert artwork["backdrop"] == ["art/backdrop_1280x720.jpg"]
    assert artwork["candidates"] == [f"art/c1_{name}" for name in names]
    assert deps.store.get_bytes(f"{origin}/art/c1_backdrop_1280x720.jpg") == (
        b"candidate 1 backdrop_1280x720.jpg"
    )
    assert not deps.store.exists(f"{origin}/art/c2_poster_600x900.jpg")
