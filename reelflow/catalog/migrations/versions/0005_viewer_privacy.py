"""viewer privacy: analytics consent per account, the erasure audit log

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-08 09:00:00

`viewer_privacy` holds an account's own analytics choice (no row: the deployment's default,
REELFLOW_ANALYTICS_CONSENT_DEFAULT); `erasure_audit` records every erasure of an account's
events, written as `started` before anything is removed (docs/privacy.md).
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = sa.DateTime(timezone=True)


def _str(n: int) -> sqlmodel.sql.sqltypes.AutoString:
    return sqlmodel.sql.sqltypes.AutoString(length=n)


def upgrade() -> None:
    op.create_table(
        "viewer_privacy",
        sa.Column("account", _str(256), nullable=False),
        sa.Column("analytics_consent", sa.Boolean(), nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("account"),
    )
    op.create_table(
        "erasure_audit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account", _str(256), nullable=False),
        sa.Column("actor", _str(256), nullable=False),
        sa.Column("status", _str(16), nullable=False),
        sa.Column("stream_entries", sa.Integer(), nullable=False),
        sa.Column("files_rewritten", sa.Integer(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("reason", _str(1000), nullable=True),
        sa.Column("started_at", _TS, nullable=False),
        sa.Column("finished_at", _TS, nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_erasure_audit_account", "erasure_audit", ["account"])
    op.create_index("ix_erasure_audit_started_at", "erasure_audit", ["started_at"])


def downgrade() -> None:
    op.drop_index("ix_erasure_audit_started_at", table_name="erasure_audit")
    op.drop_index("ix_erasure_audit_account", table_name="erasure_audit")
    op.drop_table("erasure_audit")
    op.drop_table("viewer_privacy")
