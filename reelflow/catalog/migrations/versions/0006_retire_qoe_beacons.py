"""retire qoe_beacons: QoE beacons live in the viewer event log

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-08 12:00:00

`POST /v1/qoe` appends a `qoe` event to the viewer event log and writes no row any more; the
admin console and Grafana read QoE from the events (docs/events.md). The rows left in
`qoe_beacons` are moved into the log by `reelflow events import-qoe-beacons`, which deletes
each batch once its files are written. This migration drops the table, and refuses while it
still holds rows: dropping them would lose beacons nothing else holds.

Downgrade recreates the table empty (as 0004 left it); the events stay where they are.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from reelflow.catalog.db import MigrationRefused

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

IMPORT_COMMAND = "reelflow events import-qoe-beacons"


def upgrade() -> None:
    bind = op.get_bind()
    if not sa.inspect(bind).has_table("qoe_beacons"):
        return
    left = bind.execute(sa.text("SELECT count(*) FROM qoe_beacons")).scalar_one()
    if left:
        raise MigrationRefused(
            f"qoe_beacons still holds {left} QoE beacon row(s): run `{IMPORT_COMMAND}` to move "
            "them into the viewer event log, then `reelflow db upgrade` again"
        )
    op.drop_index("ix_qoe_beacons_received_at", table_name="qoe_beacons")
    op.drop_index("ix_qoe_beacons_title_id", table_name="qoe_beacons")
    op.drop_table("qoe_beacons")


def _str(n: int) -> sqlmodel.sql.sqltypes.AutoString:
    return sqlmodel.sql.sqltypes.AutoString(length=n)


def downgrade() -> None:
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
        sa.Column("plan", _str(16), nullable=True),
        sa.Column("country", _str(2), nullable=True),
        sa.Column("drm", _str(16), nullable=True),
        sa.Column("device_class", _str(16), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_qoe_beacons_received_at", "qoe_beacons", ["received_at"])
    op.create_index("ix_qoe_beacons_title_id", "qoe_beacons", ["title_id"])
