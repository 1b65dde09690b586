"""A version's package and its content keys: publish, retire, expire, and the sealed keys.

The publish activities write here: the package row goes live in the transaction that
makes its version the title's (``titles.make_version_live``), and unpublishing removes
the origin copy and revokes the version's keys together, so nothing half-published stays
playable. Content keys are stored sealed (``keystore``); this module never sees a clear
key.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from reelflow.catalog.db import session_scope
from reelflow.catalog.models import ContentKeyRow, Package, utcnow
from reelflow.catalog.titles import make_version_live


def get_package(engine: Engine, title_id: str, version: int) -> Package | None:
    with Session(engine) as s:
        return s.exec(
            select(Package).where(Package.title_id == title_id, Package.version == version)
        ).first()


def publish_package(
    engine: Engine,
    *,
    title_id: str,
    version: int,
    origin_prefix: str,
    mpd_key: str,
    hls_key: str,
    drm_systems: Sequence[str],
    kids: Mapping[str, str],
    representations: Sequence[dict[str, Any]],
    artwork: dict[str, list[str]],
) -> bool:
    """The version's package row, published (again, if it had been removed), and the
    version made live in the same transaction. True when it was not published before."""
    newly = False
    with session_scope(engine) as s:
        row = s.exec(
            select(Package).where(Package.title_id == title_id, Package.version == version)
        ).first()
        if row is None:
            row = Package(title_id=title_id, version=version, origin_prefix=origin_prefix)
        if row.published_at is None or row.removed_at is not None:
            newly = True
            row.published_at = utcnow()
            row.removed_at = None
        row.origin_prefix = origin_prefix
        row.mpd_key = mpd_key
        row.hls_key = hls_key
        row.encrypted = bool(kids)
        row.drm_systems = list(drm_systems)
        row.kids = dict(kids)
        row.representations = list(representations)
        row.artwork = artwork
        s.add(row)
        # Players move to this version with its own window (the one kept for it while
        # the older version stayed live), in the transaction that makes it live.
        make_version_live(s, title_id, version)
    return newly


DeleteOrigin = Callable[[str], None]
"""Removes a package's origin copy, given its ``origin_prefix`` (the object store's)."""


def retire_older_versions(
    engine: Engine, title_id: str, version: int, delete_origin: DeleteOrigin
) -> None:
    """Unpublish every version older than ``version`` still published, in one transaction."""
    with session_scope(engine) as s:
        older = s.exec(
            select(Package.version).where(
                Package.title_id == title_id,
                Package.version < version,
                Package.removed_at == None,  # noqa: E711  (SQL IS NULL)
            )
        ).all()
        for old_version in older:
            _unpublish(s, title_id, old_version, delete_origin)


def unpublish_version(
    engine: Engine, title_id: str, version: int, delete_origin: DeleteOrigin
) -> None:
    """Origin copy removed and the version's keys revoked: no new segment, no license."""
    with session_scope(engine) as s:
        _unpublish(s, title_id, version, delete_origin)


def _unpublish(s: Session, title_id: str, version: int, delete_origin: DeleteOrigin) -> None:
    for package in s.exec(
        select(Package).where(Package.title_id == title_id, Package.version == version)
    ):
        delete_origin(package.origin_prefix)
        package.removed_at = package.removed_at or utcnow()
        s.add(package)
    for key in s.exec(
        select(ContentKeyRow).where(
            ContentKeyRow.title_id == title_id, ContentKeyRow.version == version
        )
    ):
        key.revoked = True
        s.add(key)


# ---- content keys (sealed) --------------------------------------------------------------


def keep_content_keys(
    engine: Engine,
    *,
    title_id: str,
    version: int,
    classes: Iterable[str],
    make: Callable[[list[str]], Iterable[ContentKeyRow]],
) -> dict[str, str]:
    """The version's KID per track class: existing keys are kept, and ``make`` is asked for
    rows of the classes still missing, added in the same transaction."""
    kids: dict[str, str] = {}
    with session_scope(engine) as s:
        existing = s.exec(
            select(ContentKeyRow).where(
                ContentKeyRow.title_id == title_id, ContentKeyRow.version == version
            )
        ).all()
        for row in existing:
            kids[row.track_class] = row.kid
        for row in make([cls for cls in classes if cls not in kids]):
            s.add(row)
            kids[row.track_class] = row.kid
    return kids


def content_keys_by_kid(
    engine: Engine, title_id: str, kids: Iterable[str]
) -> dict[str, ContentKeyRow]:
    """The title's sealed key rows for these KIDs (hex); a KID it has not is left out."""
    out: dict[str, ContentKeyRow] = {}
    with Session(engine) as s:
        for kid in kids:
            row = s.exec(
                select(ContentKeyRow).where(
                    ContentKeyRow.kid == kid, ContentKeyRow.title_id == title_id
                )
            ).first()
            if row is not None:
                out[kid] = row
    return out


def reseal_content_keys(
    engine: Engine,
    current_version: int,
    reseal_row: Callable[[ContentKeyRow], None],
    *,
    batch: int = 500,
) -> tuple[int, int]:
    """Hand every key row not under master key ``current_version`` to ``reseal_row`` (which
    rewrites its sealed key and version), a batch per transaction, so a crash midway leaves
    every row readable and a rerun finishes the job. Returns (resealed, all rows)."""
    resealed = 0
    while True:
        with session_scope(engine) as s:
            rows = s.exec(
                select(ContentKeyRow)
                .where(ContentKeyRow.key_version != current_version)
                .order_by(col(ContentKeyRow.kid))
                .limit(batch)
            ).all()
            if not rows:
                break
            for row in rows:
                reseal_row(row)
                s.add(row)
            resealed += len(rows)
    with Session(engine) as s:
        total = s.exec(select(func.count()).select_from(ContentKeyRow)).one()
    return resealed, int(total)


def rewrite_content_keys(
    engine: Engine, rewrite: Callable[[ContentKeyRow], bool], *, batch: int = 500
) -> int:
    """Hand every key row, in KID order, to ``rewrite`` (which changes it in place and says
    whether it did), a batch per transaction; returns how many it changed."""
    changed = 0
    after = ""
    while True:
        with session_scope(engine) as s:
            rows = s.exec(
                select(ContentKeyRow)
                .where(col(ContentKeyRow.kid) > after)
                .order_by(col(ContentKeyRow.kid))
                .limit(batch)
            ).all()
            if not rows:
                return changed
            for row in rows:
                if rewrite(row):
                    s.add(row)
                    changed += 1
            after = rows[-1].kid


def active_content_keys(engine: Engine, title_id: str) -> list[ContentKeyRow]:
    """The title's unrevoked key rows, every version."""
    with Session(engine) as s:
        stmt = select(ContentKeyRow).where(
            ContentKeyRow.title_id == title_id,
            ContentKeyRow.revoked == False,  # noqa: E712
        )
        return list(s.exec(stmt))
