"""Opt-outs: a shopper's STOP per workspace and number, and each ``whatsapp_unreachable``
signal once (docs/opt-out.md).

Revision ID: 0008
Revises: 0005
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0008"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UTC = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "wa_opt_outs",
        sa.Column("id", _BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("customer_phone", sa.String(20), nullable=False),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("detail", sa.String(255), nullable=False),
        sa.Column("opted_out_at", _UTC, nullable=False),
        sa.Column("opted_in_at", _UTC, nullable=True),
        sa.Column("updated_at", _UTC, nullable=False),
        sa.UniqueConstraint("account_id", "customer_phone", "scope", name="uq_opt_out_number"),
    )
    op.create_index("ix_opt_out_account", "wa_opt_outs", ["account_id", "active", "id"])
    op.create_table(
        "wa_unreachable_signals",
        sa.Column("id", _BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("signal_key", sa.String(64), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=True),
        sa.Column("shipment_id", sa.BigInteger(), nullable=True),
        sa.Column("conversation_id", sa.BigInteger(), nullable=True),
        sa.Column("why", sa.String(20), nullable=False),
        sa.Column("error_code", sa.Integer(), nullable=True),
        sa.Column("created_at", _UTC, nullable=False),
        sa.UniqueConstraint("signal_key", name="uq_unreachable_signal"),
    )


def downgrade() -> None:
    op.drop_table("wa_unreachable_signals")
    op.drop_index("ix_opt_out_account", table_name="wa_opt_outs")
    op.drop_table("wa_opt_outs")
