"""studio title namespaces and studio quotas

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-08 01:30:00

`titles.studio_title_id`: the id a studio names its title by, unique per studio, so each
studio has a title-id namespace of its own (new studio titles get the catalog id
"<studio>--<id>"). Titles studios claimed before keep their bare catalog id and are
backfilled here with studio_title_id = id, so their owners keep naming them as before.
`studios.ingests_per_minute`, `ingests_per_hour`, `max_upload_bytes`: per-studio quota
overrides (NULL: the REELFLOW_STUDIO_* defaults).
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# The unique constraint makes SQLite's batch mode rebuild `titles` (copy, drop, rename),
# which drops the triggers that keep the full-text index of 0002 (titles_fts) in step and
# renumbers the rows it points at. Re-create them as 0002 made them and rebuild the index
# after each rebuild; PostgreSQL's generated search column needs nothing.
_FTS_TRIGGERS = (
    "CREATE TRIGGER IF NOT EXISTS titles_fts_ai AFTER INSERT ON titles BEGIN "
    "INSERT INTO titles_fts(rowid, name, synopsis, genres) "
    "VALUES (new.rowid, new.name, new.synopsis, new.genres); END",
    "CREATE TRIGGER IF NOT EXISTS titles_fts_ad AFTER DELETE ON titles BEGIN "
    "INSERT INTO titles_fts(titles_fts, rowid, name, synopsis, genres) "
    "VALUES ('delete', old.rowid, old.name, old.synopsis, old.genres); END",
    "CREATE TRIGGER IF NOT EXISTS titles_fts_au AFTER UPDATE ON titles BEGIN "
    "INSERT INTO titles_fts(titles_fts, rowid, name, synopsis, genres) "
    "VALUES ('delete', old.rowid, old.name, old.synopsis, old.genres); "
    "INSERT INTO titles_fts(rowid, name, synopsis, genres) "
    "VALUES (new.rowid, new.name, new.synopsis, new.genres); END",
)


def _restore_sqlite_search() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for statement in _FTS_TRIGGERS:
        op.execute(statement)
    op.execute("INSERT INTO titles_fts(titles_fts) VALUES ('rebuild')")


def upgrade() -> None:
    with op.batch_alter_table("titles", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("studio_title_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
        )
    op.execute("UPDATE titles SET studio_title_id = id WHERE studio_id IS NOT NULL")
    with op.batch_alter_table("titles", schema=None) as batch_op:
        batch_op.create_unique_constraint(
            "uq_title_studio_title_id", ["studio_id", "studio_title_id"]
        )
    _restore_sqlite_search()
    with op.batch_alter_table("studios", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ingests_per_minute", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("ingests_per_hour", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("max_upload_bytes", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("studios", schema=None) as batch_op:
        batch_op.drop_column("max_upload_bytes")
        batch_op.drop_column("ingests_per_hour")
        batch_op.drop_column("ingests_per_minute")
    with op.batch_alter_table("titles", schema=None) as batch_op:
        batch_op.drop_constraint("uq_title_studio_title_id", type_="unique")
        batch_op.drop_column("studio_title_id")
    _restore_sqlite_search()
