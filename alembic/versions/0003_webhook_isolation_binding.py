"""Webhook bodies wait with backoff and keep their elements' problems; conversations know the
shopper's user id and carry an unguessable reference for button payloads.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UTC = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.add_column(
        "wa_webhook_inbox",
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
    )
    op.add_column("wa_webhook_inbox", sa.Column("retry_at", _UTC, nullable=True))
    op.create_table(
        "wa_webhook_problems",
        sa.Column("id", _BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("inbox_id", sa.BigInteger(), nullable=False),
        sa.Column("element", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("code", sa.Integer(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("created_at", _UTC, nullable=False),
        sa.UniqueConstraint("inbox_id", "element", "kind", name="uq_webhook_problem"),
    )
    op.add_column("wa_conversations", sa.Column("customer_user_id", sa.String(64), nullable=True))
    op.add_column("wa_conversations", sa.Column("reply_ref", sa.String(32), nullable=True))
    op.create_index("ix_conversation_user", "wa_conversations", ["customer_user_id", "id"])
    op.add_column(
        "wa_customer_reply_messages", sa.Column("customer_user_id", sa.String(64), nullable=True)
    )
    # Meta allows interactive reply ids of 256 characters.
    with op.batch_alter_table("wa_customer_reply_messages") as batch:
        batch.alter_column(
            "button_reply_id",
            existing_type=sa.String(255),
            type_=sa.String(256),
            existing_nullable=True,
        )


def downgrade() -> None:
    with op.batch_alter_table("wa_customer_reply_messages") as batch:
        batch.alter_column(
            "button_reply_id",
            existing_type=sa.String(256),
            type_=sa.String(255),
            existing_nullable=True,
        )
    op.drop_column("wa_customer_reply_messages", "customer_user_id")
    op.drop_index("ix_conversation_user", table_name="wa_conversations")
    op.drop_column("wa_conversations", "reply_ref")
    op.drop_column("wa_conversations", "customer_user_id")
    op.drop_table("wa_webhook_problems")
    op.drop_column("wa_webhook_inbox", "retry_at")
    op.drop_column("wa_webhook_inbox", "attempts")
