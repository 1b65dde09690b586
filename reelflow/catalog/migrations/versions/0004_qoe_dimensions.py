"""QoE beacon dimensions: plan, country, DRM system and device class

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 06:30:00

The admin console breaks QoE down by these; the API fills them from the playback session
(plan, country, DRM system) and the request's User-Agent (device class) when it accepts a
beacon. Older rows keep NULL and show as "unknown".
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = (("plan", 16), ("country", 2), ("drm", 16), ("device_class", 16))


def upgrade() -> None:
    with op.batch_alter_table("qoe_beacons", schema=None) as batch_op:
        for name, length in _COLUMNS:
            batch_op.add_column(
                sa.Column(name, sqlmodel.sql.sqltypes.AutoString(length=length), nullable=True)
            )


def downgrade() -> None:
    with op.batch_alter_table("qoe_beacons", schema=None) as batch_op:
        for name, _ in reversed(_COLUMNS):
            batch_op.drop_column(name)
