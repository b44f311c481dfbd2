"""Quiet hours per workspace: the window's start and end (minutes after midnight) and its IANA
time zone; all null means the deployment's default (docs/quiet-hours.md).

Revision ID: 0009
Revises: 0007
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "poe_channel_settings", sa.Column("quietHoursStart", sa.SmallInteger(), nullable=True)
    )
    op.add_column(
        "poe_channel_settings", sa.Column("quietHoursEnd", sa.SmallInteger(), nullable=True)
    )
    op.add_column("poe_channel_settings", sa.Column("quietHoursZone", sa.String(64), nullable=True))


def downgrade() -> None:
    op.drop_column("poe_channel_settings", "quietHoursZone")
    op.drop_column("poe_channel_settings", "quietHoursEnd")
    op.drop_column("poe_channel_settings", "quietHoursStart")
