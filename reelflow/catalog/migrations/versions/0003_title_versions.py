"""catalog state per title version (re-delivery without a gap)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 06:20:00

``title_versions`` holds each delivered version's own state and availability window, so a
re-delivery in progress no longer moves ``titles.state`` or ``availability`` (what players
see) until it publishes. Existing titles get one row for their newest version, copied from
the title and its availability: before this change those were that version's.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "title_versions",
        sa.Column("title_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("window_start", _TS, nullable=True),
        sa.Column("window_end", _TS, nullable=True),
        sa.Column("regions", sa.JSON(), nullable=False),
        sa.Column("plans", sa.JSON(), nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(["title_id"], ["titles.id"]),
        sa.PrimaryKeyConstraint("title_id", "version"),
    )
    op.execute(
        "INSERT INTO title_versions"
        " (title_id, version, state, window_start, window_end, regions, plans, updated_at)"
        " SELECT t.id, t.version, t.state, a.window_start, a.window_end,"
        " COALESCE(a.regions, '[]'), COALESCE(a.plans, '[]'), t.updated_at"
        " FROM titles t LEFT JOIN availability a ON a.title_id = t.id"
    )


def downgrade() -> None:
    op.drop_table("title_versions")
