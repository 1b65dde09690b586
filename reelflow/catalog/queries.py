"""The title lifecycle's catalog reads and writes, by the activities, the CLI and jobs.

Writers: the workflow activities (titles, assets, QC, ladders, renditions, availability,
lifecycle events) and jobs/webhooks.py (delivery events). Readers: the CLI (``reelflow
titles``, ``reelflow demo``). The playback API does not read through here: its hot paths
use playback_api/title_cache.py and its viewer listing playback_api/viewer_catalog.py.

Writes are idempotent where an activity retry could repeat them: upserts by natural key,
lifecycle events deduplicated by an explicit key.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from reelflow.catalog.db import session_scope
from reelflow.catalog.models import (
    Asset,
    Availability,
    LadderRow,
    LifecycleEvent,
    Package,
    QCReportRow,
    Rendition,
    Title,
    utcnow,
)


class TitleNotFound(LookupError):
    def __init__(self, title_id: str) -> None:
        super().__init__(f"no title with id {title_id!r}")
        self.title_id = title_id


class TitleOwnedElsewhere(PermissionError):
    """A registration names a studio other than the title's owner."""

    def __init__(self, title_id: str) -> None:
        super().__init__(f"title {title_id!r} belongs to another studio")
        self.title_id = title_id


def upsert_title(
    engine: Engine,
    *,
    title_id: str,
    name: str,
    synopsis: str = "",
    genres: Sequence[str] = (),
    rating: str | None = None,
    version: int = 1,
    studio_id: str | None = None,
    callback_url: str | None = None,
) -> Title:
    """Register a run's title. The owner is set only on a new row: ownership is claimed
    at ingest (``studio_ingest.claim_title``) and moved only by ``transfer_title``, so a
    run naming another studio raises TitleOwnedElsewhere and writes nothing (its callback
    URL must not replace the owner's either). A run without a studio (ops) keeps both."""
    with session_scope(engine) as s:
        title = s.get(Title, title_id, with_for_update=True)
        if title is None:
            title = Title(id=title_id, name=name, studio_id=studio_id)
        elif studio_id is not None and title.studio_id != studio_id:
            raise TitleOwnedElsewhere(title_id)
        title.name = name
        title.synopsis = synopsis
        title.genres = list(genres)
        title.rating = rating
        title.version = max(title.version, version)
        title.callback_url = callback_url or title.callback_url
        title.updated_at = utcnow()
        s.add(title)
        s.flush()
        s.refresh(title)
        return title


def get_title(engine: Engine, title_id: str) -> Title:
    with Session(engine) as s:
        title = s.get(Title, title_id)
        if title is None:
            raise TitleNotFound(title_id)
        return title


def list_titles(engine: Engine, *, state: str | None = None, limit: int = 200) -> list[Title]:
    with Session(engine) as s:
        stmt = select(Title).order_by(col(Title.created_at).desc()).limit(limit)
        if state:
            stmt = stmt.where(Title.state == state)
        return list(s.exec(stmt))


def set_duration(engine: Engine, title_id: str, duration_s: float) -> None:
    with session_scope(engine) as s:
        title = s.get(Title, title_id)
        if title is None:
            raise TitleNotFound(title_id)
        title.duration_s = duration_s
        s.add(title)


def append_event(
    engine: Engine,
    *,
    title_id: str,
    event: str,
    actor: str,
    version: int = 1,
    state: str | None = None,
    detail: dict[str, Any] | None = None,
    dedupe_key: str | None = None,
    at: datetime | None = None,
) -> bool:
    """Append a lifecycle event (and move the title's state if given).

    Returns False when an event with the same dedupe key was already recorded, which is
    what a retried activity sees: the audit trail holds each transition once.
    """
    try:
        with session_scope(engine) as s:
            s.add(
                LifecycleEvent(
                    title_id=title_id,
                    version=version,
                    event=event,
                    state=state,
                    actor=actor,
                    detail=detail or {},
                    dedupe_key=dedupe_key,
                    at=at or utcnow(),
                )
            )
            if state is not None:
                title = s.get(Title, title_id)
                if title is not None:
                    title.state = state
                    title.updated_at = utcnow()
                    s.add(title)
    except IntegrityError:
        if dedupe_key is None:
            raise
        return False
    return True


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
        row.method, row.metric, row.ladder = method, metric, ladder
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


def set_availability(
    engine: Engine,
    *,
    title_id: str,
    window_start: datetime | None,
    window_end: datetime | None,
    regions: Sequence[str] = (),
    plans: Sequence[str] = (),
) -> None:
    with session_scope(engine) as s:
        row = s.get(Availability, title_id) or Availability(title_id=title_id)
        row.window_start, row.window_end = window_start, window_end
        row.regions, row.plans = list(regions), list(plans)
        s.add(row)


def get_package(engine: Engine, title_id: str, version: int) -> Package | None:
    with Session(engine) as s:
        return s.exec(
            select(Package).where(Package.title_id == title_id, Package.version == version)
        ).first()
