"""A version's media in the catalog: its master asset, QC report, ladder and renditions.

Written by the media activities as each step finishes; every write is an upsert by natural
key (title, version[, name]), so a retried activity leaves one row.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from reelflow.catalog.db import session_scope
from reelflow.catalog.models import Asset, LadderRow, QCReportRow, Rendition


def record_asset(
    engine: Engine,
    *,
    title_id: str,
    version: int,
    master_key: str,
    sha256: str,
    size_bytes: int,
    probe: dict[str, Any] | None = None,
) -> Asset:
    with session_scope(engine) as s:
        existing = s.exec(
            select(Asset).where(Asset.title_id == title_id, Asset.version == version)
        ).first()
        asset = existing or Asset(
            title_id=title_id,
            version=version,
            master_key=master_key,
            sha256=sha256,
            size_bytes=size_bytes,
        )
        asset.master_key = master_key
        asset.sha256 = sha256
        asset.size_bytes = size_bytes
        if probe is not None:
            asset.probe = probe
        s.add(asset)
        s.flush()
        s.refresh(asset)
        return asset


def record_qc(
    engine: Engine,
    *,
    title_id: str,
    version: int,
    passed: bool,
    warnings: int,
    report: dict[str, Any],
) -> None:
    with session_scope(engine) as s:
        s.add(
            QCReportRow(
                title_id=title_id, version=version, passed=passed, warnings=warnings, report=report
            )
        )


def record_ladder(
    engine: Engine, *, title_id: str, version: int, method: str, metric: str, ladder: dict[str, Any]
) -> None:
    with session_scope(engine) as s:
        row = s.exec(
            select(LadderRow).where(LadderRow.title_id == title_id, LadderRow.version == version)
        ).first() or LadderRow(title_id=title_id, version=version, method=method, metric=metric)
        kept = {ALONGSIDE: row.ladder[ALONGSIDE]} if ALONGSIDE in (row.ladder or {}) else {}
        row.method, row.metric, row.ladder = method, metric, {**ladder, **kept}
        s.add(row)


# Where a version's ladders of extra codecs (TitleOptions.extra_codecs) sit in its ladder
# row: {"alongside": {"av1": <ladder>}}, beside the main ladder's own fields.
ALONGSIDE = "alongside"


def record_alongside_ladder(
    engine: Engine, *, title_id: str, version: int, codec: str, ladder: dict[str, Any]
) -> None:
    """Keep an extra codec's ladder beside the version's main one (analysed before it)."""
    with session_scope(engine) as s:
        row = s.exec(
            select(LadderRow).where(LadderRow.title_id == title_id, LadderRow.version == version)
        ).first() or LadderRow(
            title_id=title_id,
            version=version,
            method=str(ladder.get("method") or "per_title"),
            metric=str(ladder.get("metric") or "none"),
        )
        current = dict(row.ladder or {})
        current[ALONGSIDE] = {**current.get(ALONGSIDE, {}), codec: ladder}
        row.ladder = current  # a new dict: the JSON column sees the change
        s.add(row)


def upsert_rendition(engine: Engine, rendition: Rendition) -> None:
    with session_scope(engine) as s:
        row = s.exec(
            select(Rendition).where(
                Rendition.title_id == rendition.title_id,
                Rendition.version == rendition.version,
                Rendition.name == rendition.name,
            )
        ).first()
        if row is None:
            s.add(rendition)
            return
        for field in (
            "kind",
            "object_key",
            "codec",
            "width",
            "height",
            "bitrate_kbps",
            "language",
            "channels",
        ):
            setattr(row, field, getattr(rendition, field))
        s.add(row)


def title_assets(engine: Engine, title_id: str) -> list[Asset]:
    """The master asset of every version of a title."""
    with Session(engine) as s:
        return list(s.exec(select(Asset).where(Asset.title_id == title_id)))


def title_renditions(engine: Engine, title_id: str, *, kind: str) -> list[Rendition]:
    """Every version's renditions of one kind (``video``, ``audio``, ``subtitle``)."""
    with Session(engine) as s:
        stmt = select(Rendition).where(Rendition.title_id == title_id, Rendition.kind == kind)
        return list(s.exec(stmt))
