"""The catalog: SQLModel tables, migrations and queries (SQLite by default, PostgreSQL by URL)."""

from __future__ import annotations

from functools import lru_cache

from sqlalchemy.engine import Engine

from reelflow.catalog.db import check_schema, make_engine
from reelflow.config import Settings, get_settings


@lru_cache(maxsize=8)
def _engine_for(url: str) -> Engine:
    return make_engine(url)


def engine_from_settings(settings: Settings | None = None, *, check: bool = True) -> Engine:
    """The process-wide engine for the configured catalog, checked to be at the newest schema."""
    settings = settings or get_settings()
    engine = _engine_for(settings.resolved_database_url)
    if check:
        check_schema(engine)
    return engine
