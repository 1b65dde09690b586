"""experiments: A/B tests as data, their variants and the audit of every change

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-09 09:00:00

`experiments` holds an experiment's definition (hypothesis, target, layer slice, primary
metric, guardrails, minimum detectable effect), its status (draft, running, stopped) and when
it started and stopped; `experiment_variants` its variants in order (weight, JSON config);
`experiment_audit` who changed what and when (docs/experiments.md).
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = sa.DateTime(timezone=True)


def _str(n: int) -> sqlmodel.sql.sqltypes.AutoString:
    return sqlmodel.sql.sqltypes.AutoString(length=n)


def upgrade() -> None:
    op.create_table(
        "experiments",
        sa.Column("key", _str(64), nullable=False),
        sa.Column("hypothesis", _str(2000), nullable=False),
        sa.Column("target_countries", sa.JSON(), nullable=False),
        sa.Column("target_plans", sa.JSON(), nullable=False),
        sa.Column("target_devices", sa.JSON(), nullable=False),
        sa.Column("target_share", sa.Float(), nullable=False),
        sa.Column("layer", _str(64), nullable=True),
        sa.Column("layer_start", sa.Float(), nullable=False),
        sa.Column("layer_end", sa.Float(), nullable=False),
        sa.Column("primary_metric", _str(64), nullable=False),
        sa.Column("guardrails", sa.JSON(), nullable=False),
        sa.Column("mde", sa.Float(), nullable=True),
        sa.Column("status", _str(16), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.Column("started_at", _TS, nullable=True),
        sa.Column("stopped_at", _TS, nullable=True),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_index("ix_experiments_layer", "experiments", ["layer"])
    op.create_index("ix_experiments_status", "experiments", ["status"])
    op.create_table(
        "experiment_variants",
        sa.Column("experiment_key", _str(64), nullable=False),
        sa.Column("key", _str(64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["experiment_key"], ["experiments.key"]),
        sa.PrimaryKeyConstraint("experiment_key", "key"),
    )
    op.create_table(
        "experiment_audit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("experiment_key", _str(64), nullable=False),
        sa.Column("actor", _str(256), nullable=False),
        sa.Column("action", _str(16), nullable=False),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.Column("at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_experiment_audit_experiment_key", "experiment_audit", ["experiment_key"])
    op.create_index("ix_experiment_audit_at", "experiment_audit", ["at"])


def downgrade() -> None:
    op.drop_index("ix_experiment_audit_at", table_name="experiment_audit")
    op.drop_index("ix_experiment_audit_experiment_key", table_name="experiment_audit")
    op.drop_table("experiment_audit")
    op.drop_table("experiment_variants")
    op.drop_index("ix_experiments_status", table_name="experiments")
    op.drop_index("ix_experiments_layer", table_name="experiments")
    op.drop_table("experiments")
