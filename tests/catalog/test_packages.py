"""A version's package and content keys (catalog.packages): publish makes the version live
in the same transaction, retiring and unpublishing remove the origin copy and revoke keys,
existing keys are kept. On SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from reelflow.catalog import packages as catalog_packages
from reelflow.catalog import titles
from reelflow.catalog.models import ContentKeyRow
from tests.fixtures import catalog_reads as reads


def publish(engine: Engine, title_id: str, version: int) -> bool:
    origin = f"origin/{title_id}/v{version}"
    return catalog_packages.publish_package(
        engine,
        title_id=title_id,
        version=version,
        origin_prefix=origin,
        mpd_key=f"{origin}/manifest.mpd",
        hls_key=f"{origin}/master.m3u8",
        drm_systems=["clearkey"],
        kids={"SD": "ab" * 16},
        representations=[{"kind": "video", "height": 360}],
        artwork={"poster": ["art/p.jpg"]},
    )


def key_row(title_id: str, version: int, cls: str, kid: str) -> ContentKeyRow:
    return ContentKeyRow(
        kid=kid, title_id=title_id, version=version, track_class=cls, sealed_key=b"sealed"
    )


def test_publish_is_new_once_and_makes_the_version_live(catalog: Engine) -> None:
    titles.upsert_title(catalog, title_id="film", name="Film")
    assert publish(catalog, "film", 1) is True
    assert publish(catalog, "film", 1) is False  # a retried activity
    row = catalog_packages.get_package(catalog, "film", 1)
    assert row is not None and row.encrypted and row.mpd_key == "origin/film/v1/manifest.mpd"
    assert row.artwork == {"poster": ["art/p.jpg"]}
    assert catalog_packages.get_package(catalog, "film", 2) is None


def test_retiring_and_unpublishing_remove_origin_and_revoke_keys(catalog: Engine) -> None:
    titles.upsert_title(catalog, title_id="film", name="Film", version=2)
    for version in (1, 2):
        catalog_packages.keep_content_keys(
            catalog,
            title_id="film",
            version=version,
            classes=["SD"],
            make=lambda missing, v=version: [key_row("film", v, c, f"{v}" * 32) for c in missing],
        )
        publish(catalog, "film", version)
    deleted: list[str] = []
    catalog_packages.retire_older_versions(catalog, "film", 2, deleted.append)
    assert deleted == ["origin/film/v1"]
    v1 = catalog_packages.get_package(catalog, "film", 1)
    assert v1 is not None and v1.removed_at is not None
    assert [k.revoked for k in reads.content_keys_for(catalog, "film", 1)] == [True]
    assert [k.revoked for k in reads.content_keys_for(catalog, "film", 2)] == [False]
    catalog_packages.unpublish_version(catalog, "film", 2, deleted.append)
    assert deleted == ["origin/film/v1", "origin/film/v2"]
    assert [k.revoked for k in reads.content_keys_for(catalog, "film", 2)] == [True]
    assert publish(catalog, "film", 2) is True  # published again after a removal


def test_existing_content_keys_are_kept(catalog: Engine) -> None:
    titles.upsert_title(catalog, title_id="film", name="Film")
    asked: list[list[str]] = []

    def make(missing: list[str]) -> list[ContentKeyRow]:
        asked.append(missing)
        return [key_row("film", 1, cls, cls.lower().ljust(32, "0")) for cls in missing]

    first = catalog_packages.keep_content_keys(
        catalog, title_id="film", version=1, classes=["AUDIO", "SD"], make=make
    )
    again = catalog_packages.keep_content_keys(
        catalog, title_id="film", version=1, classes=["AUDIO", "SD", "HD"], make=make
    )
    assert asked == [["AUDIO", "SD"], ["HD"]]
    assert again == {**first, "HD": "hd".ljust(32, "0")}
    rows = catalog_packages.content_keys_by_kid(catalog, "film", [first["SD"], "ff" * 16])
    assert list(rows) == [first["SD"]] and rows[first["SD"]].sealed_key == b"sealed"
    assert catalog_packages.content_keys_by_kid(catalog, "other", [first["SD"]]) == {}
