"""The catalog: SQLModel tables, migrations and queries (SQLite by default, PostgreSQL by URL)."""

from __future__ import annotations

from functools import lru_cache

from sqlalchemy.engine import Engine

from reelflow.catalog.db import PoolSize, Role, check_schema, make_engine, pool_size
from reelflow.config import Settings, get_settings


@lru_cache(maxsize=8)
def _engine_for(url: str, pool: PoolSize) -> Engine:
    return make_engine(url, pool=pool)


def engine_from_settings(
    settings: Settings | None = None, *, check: bool = True, role: Role = "api"
) -> Engine:
    """The process-wide engine for the configured catalog, checked to be at the newest schema;
    ``role`` picks the connection pool's size (catalog.db.POOL_DEFAULTS)."""
    settings = settings or get_settings()
    pool = pool_size(role, settings.db_pool_size, settings.db_max_overflow)
    engine = _engine_for(settings.resolved_database_url, pool)
    if check:
        check_schema(engine)
    return engine
