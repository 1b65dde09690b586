"""Titles and their versions: registration, state, windows and the lifecycle event log.

Writers: the workflow activities (titles, availability, lifecycle events) and
jobs/webhooks.py (delivery events). Readers: the CLI (``reelflow titles``, ``reelflow
demo``) and the jobs. A version's media (master, QC, ladder, renditions) is in
``catalog.assets``, its package and content keys in ``catalog.packages``. The playback API
does not read through here: its hot paths use playback_api/delivery/title_cache.py and its
viewer listing playback_api/delivery/viewer_catalog.py.

Writes are idempotent where an activity retry could repeat them: upserts by natural key,
lifecycle events deduplicated by an explicit key.

State per version: every version's state and window are kept in ``title_versions``; the
title's own ``state`` and ``availability`` (what players see) follow a version only while
no other version is live (``shows_version``), so a re-delivery in progress, failed or
rejected leaves the live one untouched until its own publish (``make_version_live``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from reelflow.catalog.db import session_scope
from reelflow.catalog.models import (
    Asset,
    Availability,
    LifecycleEvent,
    Package,
    Title,
    TitleState,
    TitleVersion,
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
            # Normally claimed at ingest; should a run register first, keep the studio's
            # name for it (its namespace, studio_ingest.studio_catalog_id) all the same.
            prefix = f"{studio_id}--"
            named = title_id.removeprefix(prefix) if studio_id else None
            title = Title(id=title_id, name=name, studio_id=studio_id, studio_title_id=named)
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


def title_callback_url(engine: Engine, title_id: str) -> str | None:
    """Where the title's studio wants lifecycle notifications (None: no title or no URL)."""
    with Session(engine) as s:
        title = s.get(Title, title_id)
        return title.callback_url if title else None


def set_duration(
    engine: Engine, title_id: str, duration_s: float, *, version: int | None = None
) -> None:
    """The title's duration, from ``version``'s master unless another version is live (its
    publish sets it then, ``make_version_live``)."""
    with session_scope(engine) as s:
        title = s.get(Title, title_id)
        if title is None:
            raise TitleNotFound(title_id)
        if version is not None and not shows_version(s, title_id, version):
            return
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
    """Append a lifecycle event (and move the version's state if given; the title's too
    while no other version is live, ``shows_version``).

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
                title = s.get(Title, title_id, with_for_update=True)
                if title is not None:
                    row = _version_row(s, title_id, version)
                    row.state, row.updated_at = state, utcnow()
                    s.add(row)
                    if shows_version(s, title_id, version):
                        title.state = state
                        title.updated_at = utcnow()
                        s.add(title)
    except IntegrityError:
        if dedupe_key is None:
            raise
        return False
    return True


def live_version(s: Session, title_id: str) -> int | None:
    """The version players get: the newest with a published package not yet removed (the
    API's title cache and viewer listing pick the same one)."""
    newest: int | None = s.exec(
        select(func.max(Package.version)).where(
            Package.title_id == title_id,
            col(Package.published_at).is_not(None),
            col(Package.removed_at).is_(None),
        )
    ).one()
    return newest


def shows_version(s: Session, title_id: str, version: int) -> bool:
    """Whether ``version``'s state and window are the title's: it is the live version, or
    no version is live. A re-delivery processed beside a live version is not."""
    live = live_version(s, title_id)
    return live is None or live == version


def _version_row(s: Session, title_id: str, version: int) -> TitleVersion:
    return s.get(TitleVersion, (title_id, version)) or TitleVersion(
        title_id=title_id, version=version
    )


def set_availability(
    engine: Engine,
    *,
    title_id: str,
    window_start: datetime | None,
    window_end: datetime | None,
    regions: Sequence[str] = (),
    plans: Sequence[str] = (),
    version: int | None = None,
) -> None:
    """A version's window, regions and plans; the title's too while ``shows_version``
    (``version=None``: the title's only, as a run from before per-version state wrote)."""
    with session_scope(engine) as s:
        if version is not None:
            s.get(Title, title_id, with_for_update=True)  # serialises with make_version_live
            own = _version_row(s, title_id, version)
            own.window_start, own.window_end = window_start, window_end
            own.regions, own.plans = list(regions), list(plans)
            own.updated_at = utcnow()
            s.add(own)
            if not shows_version(s, title_id, version):
                return
        row = s.get(Availability, title_id) or Availability(title_id=title_id)
        row.window_start, row.window_end = window_start, window_end
        row.regions, row.plans = list(regions), list(plans)
        s.add(row)


def set_window(
    engine: Engine,
    *,
    title_id: str,
    window_start: datetime | None,
    window_end: datetime | None,
    version: int | None = None,
) -> None:
    """A changed window (``update_window``): regions and plans stay as delivered."""
    with session_scope(engine) as s:
        if version is not None:
            s.get(Title, title_id, with_for_update=True)
            own = _version_row(s, title_id, version)
            own.window_start, own.window_end, own.updated_at = window_start, window_end, utcnow()
            s.add(own)
            if not shows_version(s, title_id, version):
                return
        row = s.get(Availability, title_id) or Availability(title_id=title_id)
        row.window_start, row.window_end = window_start, window_end
        s.add(row)


def make_version_live(s: Session, title_id: str, version: int) -> None:
    """At publish, in the transaction that writes the package row: the title's availability
    and duration become this version's, and the versions it replaces are ``superseded``. A version
    without a row (a run from before per-version state) leaves the title's as it is."""
    asset = s.exec(
        select(Asset).where(Asset.title_id == title_id, Asset.version == version)
    ).first()
    title = s.get(Title, title_id)
    if title is not None and asset is not None and asset.probe and asset.probe.get("duration_s"):
        title.duration_s = float(asset.probe["duration_s"])
        s.add(title)
    own = s.get(TitleVersion, (title_id, version))
    if own is not None:
        row = s.get(Availability, title_id) or Availability(title_id=title_id)
        row.window_start, row.window_end = own.window_start, own.window_end
        row.regions, row.plans = list(own.regions), list(own.plans)
        s.add(row)
    for older in s.exec(
        select(TitleVersion).where(
            TitleVersion.title_id == title_id,
            col(TitleVersion.version) < version,
            TitleVersion.state == TitleState.PUBLISHED,
        )
    ):
        older.state, older.updated_at = TitleState.SUPERSEDED, utcnow()
        s.add(older)


# ---- the lifecycle event log ------------------------------------------------------------


def has_event(engine: Engine, dedupe_key: str) -> bool:
    """Whether an event with this dedupe key was recorded."""
    with Session(engine) as s:
        stmt = select(LifecycleEvent.id).where(LifecycleEvent.dedupe_key == dedupe_key)
        return s.exec(stmt).first() is not None


def events_named(
    engine: Engine, event: str, *, title_id: str | None = None
) -> list[LifecycleEvent]:
    """Every recorded ``event``, newest first (optionally for one title)."""
    with Session(engine) as s:
        stmt = select(LifecycleEvent).where(LifecycleEvent.event == event)
        if title_id is not None:
            stmt = stmt.where(LifecycleEvent.title_id == title_id)
        return list(s.exec(stmt.order_by(col(LifecycleEvent.id).desc())))
