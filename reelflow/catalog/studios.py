"""Studio partners in the catalog: their rows, API-key lookup and sealed webhook secrets.

``reelflow.studios.accounts`` makes keys and seals secrets; this module only stores and
finds rows. A secret is always handed in sealed, or resealed by a function given here so
that reading and rewriting a studio's ring happen in one transaction.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from reelflow.catalog.db import session_scope
from reelflow.catalog.models import Studio, Title

Reseal = Callable[[Studio], tuple[bytes, int] | None]
"""A studio's new sealed webhook-secret ring and its master-key version (None: keep it)."""


class StudioNotFound(LookupError):
    def __init__(self, studio_id: str) -> None:
        super().__init__(f"no studio with id {studio_id!r}")
        self.studio_id = studio_id


def add_studio(
    engine: Engine,
    *,
    studio_id: str,
    name: str,
    api_key_sha256: str,
    sealed_webhook_secret: bytes,
    key_version: int,
) -> bool:
    """A new studio row; False when the id is taken."""
    try:
        with session_scope(engine) as s:
            s.add(
                Studio(
                    id=studio_id,
                    name=name,
                    api_key_sha256=api_key_sha256,
                    sealed_webhook_secret=sealed_webhook_secret,
                    key_version=key_version,
                )
            )
    except IntegrityError:
        return False
    return True


def all_studios(engine: Engine) -> list[Studio]:
    with Session(engine) as s:
        return list(s.exec(select(Studio).order_by(col(Studio.id))))


def studio_by_api_key_hash(engine: Engine, api_key_sha256: str) -> Studio | None:
    with Session(engine) as s:
        return s.exec(select(Studio).where(Studio.api_key_sha256 == api_key_sha256)).first()


def title_owner(engine: Engine, title_id: str) -> tuple[Studio, str] | None:
    """The studio owning a title and its own id for it (the name in its namespace); None:
    no such title, or ingested by ops."""
    with Session(engine) as s:
        title = s.get(Title, title_id)
        studio = s.get(Studio, title.studio_id) if title and title.studio_id else None
        if title is None or studio is None:
            return None
        return studio, title.studio_title_id or title.id


def reseal_studio(engine: Engine, studio_id: str, reseal: Reseal) -> None:
    """Rewrite one studio's sealed ring with what ``reseal`` makes of its row."""
    with session_scope(engine) as s:
        row = s.get(Studio, studio_id)
        if row is None:
            raise StudioNotFound(studio_id)
        _apply(s, row, reseal)


def reseal_all_studios(engine: Engine, reseal: Reseal) -> int:
    """Every studio through ``reseal`` in one transaction; how many rings were rewritten."""
    count = 0
    with session_scope(engine) as s:
        for row in s.exec(select(Studio)):
            count += _apply(s, row, reseal)
    return count


def _apply(s: Session, row: Studio, reseal: Reseal) -> bool:
    new = reseal(row)
    if new is None:
        return False
    row.sealed_webhook_secret, row.key_version = new
    s.add(row)
    return True


def disable_studio(engine: Engine, studio_id: str) -> bool:
    """Refuse the studio's API key from now on. False when it was already disabled."""
    with session_scope(engine) as s:
        row = s.get(Studio, studio_id)
        if row is None:
            raise StudioNotFound(studio_id)
        if row.disabled:
            return False
        row.disabled = True
        s.add(row)
        return True


QUOTA_FIELDS = ("ingests_per_minute", "ingests_per_hour", "max_upload_bytes")


def set_studio_quotas(engine: Engine, studio_id: str, changes: dict[str, int | None]) -> Studio:
    """Set (an int) or clear (None: the REELFLOW_STUDIO_* default) a studio's quotas;
    fields not in ``changes`` stay. Returns the row afterwards."""
    unknown = set(changes) - set(QUOTA_FIELDS)
    if unknown:
        raise ValueError(f"not studio quotas: {', '.join(sorted(unknown))}")
    with session_scope(engine) as s:
        row = s.get(Studio, studio_id, with_for_update=True)
        if row is None:
            raise StudioNotFound(studio_id)
        for field, value in changes.items():
            setattr(row, field, value)
        s.add(row)
        s.flush()
        s.refresh(row)
        s.expunge(row)
        return row
