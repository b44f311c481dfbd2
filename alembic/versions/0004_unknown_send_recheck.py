"""Unknown sends are looked at again: when one was sent a second time, and an index that
finds the due ones by status and age.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DATETIME = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def upgrade() -> None:
    op.add_column("wa_outgoing_messages", sa.Column("resent_at", DATETIME, nullable=True))
    op.create_index("ix_outgoing_status_updated", "wa_outgoing_messages", ["status", "updated_at"])


def downgrade() -> None:
    op.drop_index("ix_outgoing_status_updated", table_name="wa_outgoing_messages")
    op.drop_column("wa_outgoing_messages", "resent_at")
