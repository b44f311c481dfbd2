"""What became of a shipment after its conversation: the shipment events that followed, one
outcome per conversation; conversations keep the courier and the brand's tracking host.

Revision ID: 0005
Revises: 0006
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0005"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UTC = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.add_column(
        "wa_conversations",
        sa.Column("courier", sa.String(128), nullable=False, server_default=""),
    )
    op.add_column("wa_conversations", sa.Column("tracking_domain", sa.String(255), nullable=True))
    op.create_table(
        "wa_shipment_events",
        sa.Column("id", _BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("account_id", sa.BigInteger(), nullable=True),
        sa.Column("shipment_id", sa.BigInteger(), nullable=False),
        sa.Column("shipment_status_log_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("happened_at", _UTC, nullable=True),
        sa.Column("received_at", _UTC, nullable=False),
        sa.UniqueConstraint("shipment_id", "shipment_status_log_id", name="uq_shipment_event"),
    )
    op.create_table(
        "wa_conversation_outcomes",
        sa.Column("id", _BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("conversation_id", sa.BigInteger(), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("shipment_id", sa.BigInteger(), nullable=False),
        sa.Column("outcome", sa.String(20), nullable=True),
        sa.Column("outcome_status_log_id", sa.BigInteger(), nullable=True),
        sa.Column("outcome_at", _UTC, nullable=True),
        sa.Column("next_event", sa.String(20), nullable=True),
        sa.Column("answer", sa.String(20), nullable=False),
        sa.Column("honoured", sa.Boolean(), nullable=True),
        sa.Column("created_at", _UTC, nullable=False),
        sa.Column("updated_at", _UTC, nullable=False),
        sa.UniqueConstraint("conversation_id", name="uq_conversation_outcome"),
    )


def downgrade() -> None:
    op.drop_table("wa_conversation_outcomes")
    op.drop_table("wa_shipment_events")
    op.drop_column("wa_conversations", "tracking_domain")
    op.drop_column("wa_conversations", "courier")
