"""Engine creation, Alembic migrations and the schema-currency check."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, NamedTuple

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, create_engine

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


class SchemaBehind(RuntimeError):
    """The database is not at the newest migration; the message names the fix."""


class MigrationRefused(RuntimeError):
    """A migration will not run on this data yet; the message names what to run first."""


Role = Literal["api", "worker", "rq"]


class PoolSize(NamedTuple):
    size: int  # connections kept open
    overflow: int  # extra connections opened under load, closed when returned


# Sized to what each process runs at once, so N API replicas + workers stay well under
# PostgreSQL's max_connections (100): the API serves sync catalog reads from a thread pool;
# a worker runs at most 8 activities (control) or 2 (media); an rq work horse runs one job.
POOL_DEFAULTS: dict[Role, PoolSize] = {
    "api": PoolSize(10, 10),
    "worker": PoolSize(8, 2),
    "rq": PoolSize(2, 0),
}


def pool_size(role: Role, size: int | None = None, overflow: int | None = None) -> PoolSize:
    """The role's default pool, with REELFLOW_DB_POOL_SIZE / _MAX_OVERFLOW where set."""
    default = POOL_DEFAULTS[role]
    return PoolSize(
        default.size if size is None else size, default.overflow if overflow is None else overflow
    )


def make_engine(url: str, *, echo: bool = False, pool: PoolSize = POOL_DEFAULTS["api"]) -> Engine:
    """An engine for the catalog; ``pool`` sizes PostgreSQL's connection pool (SQLite has
    one file and keeps SQLAlchemy's default)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, echo=echo, connect_args={"check_same_thread": False, "timeout": 30}
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(
        url, echo=echo, pool_pre_ping=True, pool_size=pool.size, max_overflow=pool.overflow
    )


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # WAL lets the API read while a worker writes; busy_timeout absorbs short write overlaps.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser interpolation would choke on '%' in passwords.
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def head_revision() -> str:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    head = script.get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def check_schema(engine: Engine) -> None:
    """Refuse to run on a schema older (or newer) than this code's migrations."""
    current = current_revision(engine)
    head = head_revision()
    if current != head:
        raise SchemaBehind(
            f"catalog schema is at {current or 'nothing (empty database)'}, this reelflow "
            f"needs {head}: run `reelflow db upgrade`"
        )


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
