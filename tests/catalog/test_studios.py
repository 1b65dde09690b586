"""Studio rows (catalog.studios): ids are unique, API keys found by hash, rings resealed in
one transaction, a title's owner. On SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine

from reelflow.catalog import studios as catalog_studios
from reelflow.catalog import titles
from reelflow.catalog.models import Studio


def add(engine: Engine, studio_id: str, key_hash: str) -> bool:
    return catalog_studios.add_studio(
        engine,
        studio_id=studio_id,
        name=studio_id.title(),
        api_key_sha256=key_hash,
        sealed_webhook_secret=b"ring-1",
        key_version=1,
    )


def test_studio_rows(catalog: Engine) -> None:
    assert add(catalog, "zeta", "a" * 64) and add(catalog, "acme", "b" * 64)
    assert not add(catalog, "acme", "c" * 64)  # the id is taken
    assert [s.id for s in catalog_studios.all_studios(catalog)] == ["acme", "zeta"]
    found = catalog_studios.studio_by_api_key_hash(catalog, "b" * 64)
    assert found is not None and found.id == "acme"
    assert catalog_studios.studio_by_api_key_hash(catalog, "d" * 64) is None
    assert catalog_studios.disable_studio(catalog, "acme") is True
    assert catalog_studios.disable_studio(catalog, "acme") is False
    with pytest.raises(catalog_studios.StudioNotFound):
        catalog_studios.disable_studio(catalog, "nobody")


def test_resealing(catalog: Engine) -> None:
    add(catalog, "acme", "a" * 64)
    add(catalog, "zeta", "b" * 64)

    def only_acme(row: Studio) -> tuple[bytes, int] | None:
        return (b"ring-2", 2) if row.id == "acme" else None

    assert catalog_studios.reseal_all_studios(catalog, only_acme) == 1
    catalog_studios.reseal_studio(
        catalog, "zeta", lambda row: (row.sealed_webhook_secret + b"!", 3)
    )
    rows = {s.id: s for s in catalog_studios.all_studios(catalog)}
    assert (rows["acme"].sealed_webhook_secret, rows["acme"].key_version) == (b"ring-2", 2)
    assert (rows["zeta"].sealed_webhook_secret, rows["zeta"].key_version) == (b"ring-1!", 3)
    with pytest.raises(catalog_studios.StudioNotFound):
        catalog_studios.reseal_studio(catalog, "nobody", only_acme)


def test_title_owner(catalog: Engine) -> None:
    add(catalog, "acme", "a" * 64)
    titles.upsert_title(catalog, title_id="owned", name="Film", studio_id="acme")
    titles.upsert_title(catalog, title_id="ops", name="Film")
    owner = catalog_studios.title_owner(catalog, "owned")
    assert owner is not None and owner[0].id == "acme" and owner[1] == "owned"
    titles.upsert_title(catalog, title_id="acme--named", name="Film", studio_id="acme")
    named = catalog_studios.title_owner(catalog, "acme--named")
    assert named is not None and named[1] == "named"  # the id in acme's namespace
    assert catalog_studios.title_owner(catalog, "ops") is None
    assert catalog_studios.title_owner(catalog, "missing") is None
