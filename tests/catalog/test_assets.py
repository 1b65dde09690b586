"""A version's media rows (catalog.assets): master asset, ladders, renditions, upserted by
natural key so a retried activity leaves one row. On SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from reelflow.catalog import assets as catalog_assets
from reelflow.catalog import titles as q
from reelflow.catalog.models import LadderRow, Rendition


def test_asset_ladder_renditions_upsert(catalog: Engine) -> None:
    q.upsert_title(catalog, title_id="t3", name="Third")
    catalog_assets.record_asset(
        catalog,
        title_id="t3",
        version=1,
        master_key="masters/t3/ab",
        sha256="ab" * 32,
        size_bytes=10,
        probe={"duration_s": 2.0},
    )
    again = catalog_assets.record_asset(
        catalog,
        title_id="t3",
        version=1,
        master_key="masters/t3/ab",
        sha256="ab" * 32,
        size_bytes=10,
    )
    assert again.probe == {"duration_s": 2.0}
    catalog_assets.record_ladder(
        catalog, title_id="t3", version=1, method="per_title", metric="vmaf", ladder={"rungs": [1]}
    )
    catalog_assets.record_ladder(
        catalog, title_id="t3", version=1, method="fixed", metric="psnr", ladder={"rungs": [2]}
    )
    # Ladders and renditions are written for the record; nothing in reelflow reads them back.
    with Session(catalog) as s:
        (ladder,) = s.exec(select(LadderRow).where(LadderRow.title_id == "t3")).all()
    assert ladder.method == "fixed" and ladder.ladder == {"rungs": [2]}
    # An AV1 ladder beside it (extra_codecs) joins the row without replacing the main one,
    # and survives the main ladder being recorded again (a retried analysis).
    catalog_assets.record_alongside_ladder(
        catalog, title_id="t3", version=1, codec="av1", ladder={"rungs": [3]}
    )
    catalog_assets.record_ladder(
        catalog, title_id="t3", version=1, method="fixed", metric="psnr", ladder={"rungs": [2]}
    )
    with Session(catalog) as s:
        (ladder,) = s.exec(select(LadderRow).where(LadderRow.title_id == "t3")).all()
    assert ladder.ladder == {"rungs": [2], "alongside": {"av1": {"rungs": [3]}}}
    for height in (360, 720, 720):
        catalog_assets.upsert_rendition(
            catalog,
            Rendition(
                title_id="t3",
                version=1,
                kind="video",
                name=f"v{height}",
                object_key=f"k/{height}",
                width=height * 16 // 9,
                height=height,
                bitrate_kbps=height * 3,
            ),
        )
    with Session(catalog) as s:
        rows = s.exec(select(Rendition).where(Rendition.title_id == "t3")).all()
    assert sorted(r.name for r in rows) == ["v360", "v720"]


def test_title_assets_and_renditions_by_kind(catalog: Engine) -> None:
    q.upsert_title(catalog, title_id="t6", name="Sixth", version=2)
    for version in (1, 2):
        catalog_assets.record_asset(
            catalog,
            title_id="t6",
            version=version,
            master_key=f"masters/t6/{version}",
            sha256=str(version) * 64,
            size_bytes=1,
        )
        for kind, name in (("video", "v360"), ("subtitle", "sub-en")):
            catalog_assets.upsert_rendition(
                catalog,
                Rendition(title_id="t6", version=version, kind=kind, name=name, object_key="k"),
            )
    assets = catalog_assets.title_assets(catalog, "t6")
    assert sorted(a.version for a in assets) == [1, 2]
    subs = catalog_assets.title_renditions(catalog, "t6", kind="subtitle")
    assert sorted((r.version, r.name) for r in subs) == [(1, "sub-en"), (2, "sub-en")]
    assert catalog_assets.title_renditions(catalog, "other", kind="video") == []
