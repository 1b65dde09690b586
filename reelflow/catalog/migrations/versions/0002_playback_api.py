"""playback API: studios, ingest idempotency, viewing progress, QoE, artwork, full-text search

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 00:40:00

Full-text search differs by database: SQLite gets an FTS5 table kept in step with `titles`
by triggers; PostgreSQL gets a stored generated tsvector column with a GIN index.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = sa.DateTime(timezone=True)


def _str(n: int) -> sqlmodel.sql.sqltypes.AutoString:
    return sqlmodel.sql.sqltypes.AutoString(length=n)


def upgrade() -> None:
    op.create_table(
        "studios",
        sa.Column("id", _str(64), nullable=False),
        sa.Column("name", _str(200), nullable=False),
        sa.Column("api_key_sha256", _str(64), nullable=False),
        sa.Column("sealed_webhook_secret", sa.LargeBinary(), nullable=False),
        sa.Column("key_version", sa.Integer(), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_studios_api_key_sha256", "studios", ["api_key_sha256"], unique=True)

    op.create_table(
        "ingest_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("studio_id", _str(64), nullable=False),
        sa.Column("idempotency_key", _str(200), nullable=False),
        sa.Column("body_sha256", _str(64), nullable=False),
        sa.Column("title_id", _str(64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("response", sa.JSON(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("studio_id", "idempotency_key", name="uq_ingest_studio_idempotency"),
    )
    op.create_index("ix_ingest_requests_studio_id", "ingest_requests", ["studio_id"])

    op.create_table(
        "viewing_progress",
        sa.Column("account", _str(256), nullable=False),
        sa.Column("title_id", _str(64), nullable=False),
        sa.Column("position_s", sa.Float(), nullable=False),
        sa.Column("duration_s", sa.Float(), nullable=True),
        sa.Column("updated_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("account", "title_id"),
    )
    op.create_index("ix_viewing_progress_updated_at", "viewing_progress", ["updated_at"])

    op.create_table(
        "qoe_beacons",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title_id", _str(64), nullable=False),
        sa.Column("session_id", _str(64), nullable=False),
        sa.Column("account", _str(256), nullable=False),
        sa.Column("startup_ms", sa.Float(), nullable=True),
        sa.Column("rebuffer_count", sa.Integer(), nullable=False),
        sa.Column("rebuffer_ms", sa.Float(), nullable=False),
        sa.Column("played_ms", sa.Float(), nullable=False),
        sa.Column("bitrate_switches", sa.Integer(), nullable=False),
        sa.Column("errors", sa.JSON(), nullable=False),
        sa.Column("received_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_qoe_beacons_title_id", "qoe_beacons", ["title_id"])
    op.create_index("ix_qoe_beacons_received_at", "qoe_beacons", ["received_at"])

    with op.batch_alter_table("packages") as batch:
        batch.add_column(sa.Column("artwork", sa.JSON(), nullable=False, server_default="{}"))

    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE titles ADD COLUMN search_vector tsvector GENERATED ALWAYS AS ("
            "setweight(to_tsvector('english', coalesce(name, '')), 'A') || "
            "setweight(to_tsvector('english', coalesce(genres::text, '')), 'B') || "
            "setweight(to_tsvector('english', coalesce(synopsis, '')), 'C')) STORED"
        )
        op.execute("CREATE INDEX ix_titles_search_vector ON titles USING GIN (search_vector)")
    else:
        # External-content FTS5 over titles: the index holds tokens only, rows stay in titles.
        op.execute(
            "CREATE VIRTUAL TABLE titles_fts USING fts5("
            "name, synopsis, genres, content='titles', content_rowid='rowid', "
            "tokenize='porter unicode61 remove_diacritics 2')"
        )
        op.execute(
            "CREATE TRIGGER titles_fts_ai AFTER INSERT ON titles BEGIN "
            "INSERT INTO titles_fts(rowid, name, synopsis, genres) "
            "VALUES (new.rowid, new.name, new.synopsis, new.genres); END"
        )
        op.execute(
            "CREATE TRIGGER titles_fts_ad AFTER DELETE ON titles BEGIN "
            "INSERT INTO titles_fts(titles_fts, rowid, name, synopsis, genres) "
            "VALUES ('delete', old.rowid, old.name, old.synopsis, old.genres); END"
        )
        op.execute(
            "CREATE TRIGGER titles_fts_au AFTER UPDATE ON titles BEGIN "
            "INSERT INTO titles_fts(titles_fts, rowid, name, synopsis, genres) "
            "VALUES ('delete', old.rowid, old.name, old.synopsis, old.genres); "
            "INSERT INTO titles_fts(rowid, name, synopsis, genres) "
            "VALUES (new.rowid, new.name, new.synopsis, new.genres); END"
        )
        op.execute("INSERT INTO titles_fts(titles_fts) VALUES ('rebuild')")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_titles_search_vector")
        op.execute("ALTER TABLE titles DROP COLUMN IF EXISTS search_vector")
    else:
        for trigger in ("titles_fts_ai", "titles_fts_ad", "titles_fts_au"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS titles_fts")
    with op.batch_alter_table("packages") as batch:
        batch.drop_column("artwork")
    op.drop_table("qoe_beacons")
    op.drop_table("viewing_progress")
    op.drop_table("ingest_requests")
    op.drop_table("studios")
