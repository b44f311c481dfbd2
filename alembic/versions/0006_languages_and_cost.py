"""Languages and cost: the shipped templates in Hindi (seed version 2), a workspace's default
language and monthly template cap, each shopper's language, and Meta's pricing per status.

Revision ID: 0006
Revises: 0004
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

from infrastructure.db.seed_data import TEMPLATES_HI_V2

revision: str = "0006"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UTC = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
#: As in 0001: the shipped templates belong to the configured default account.
DEFAULT_ACCOUNT_ID = 5


def upgrade() -> None:
    op.add_column(
        "poe_channel_settings",
        sa.Column("language", sa.String(8), nullable=False, server_default="en"),
    )
    op.add_column(
        "poe_channel_settings", sa.Column("monthlyTemplateCap", sa.Integer(), nullable=True)
    )
    op.create_table(
        "wa_shopper_languages",
        sa.Column("customer_phone", sa.String(20), primary_key=True),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("updated_at", _UTC, nullable=False),
    )
    op.add_column("wa_dlr_messages", sa.Column("pricing_billable", sa.Boolean(), nullable=True))
    op.add_column("wa_dlr_messages", sa.Column("pricing_model", sa.String(16), nullable=True))
    op.add_column("wa_dlr_messages", sa.Column("pricing_category", sa.String(32), nullable=True))
    op.add_column("wa_dlr_messages", sa.Column("pricing_type", sa.String(32), nullable=True))
    op.add_column(
        "wa_dlr_messages", sa.Column("pricing_conversation_id", sa.String(128), nullable=True)
    )
    _seed_hindi_templates()


def _seed_hindi_templates() -> None:
    templates = sa.table(
        "wa_templates",
        sa.column("account_id", sa.BigInteger),
        sa.column("template_name", sa.String),
        sa.column("language", sa.String),
        sa.column("template_body", sa.Text),
        sa.column("variables", sa.String),
        sa.column("description", sa.String),
        sa.column("reason", sa.String),
        sa.column("buttons", sa.Text),
    )
    default_account = int(
        op.get_context().config.attributes.get(  # type: ignore[union-attr]
            "default_account_id", DEFAULT_ACCOUNT_ID
        )
    )
    op.bulk_insert(
        templates,
        [
            {
                "account_id": default_account,
                "template_name": t["template_name"],
                "language": t["language"],
                "template_body": t["template_body"],
                "variables": json.dumps(t["variables"]),
                "description": t["description"],
                "reason": t["reason"],
                "buttons": json.dumps(t["buttons"], ensure_ascii=False),
            }
            for t in TEMPLATES_HI_V2
        ],
    )


def downgrade() -> None:
    templates = sa.table(
        "wa_templates", sa.column("template_name", sa.String), sa.column("language", sa.String)
    )
    names = [t["template_name"] for t in TEMPLATES_HI_V2]
    op.execute(
        templates.delete().where(templates.c.language == "hi", templates.c.template_name.in_(names))
    )
    op.drop_column("wa_dlr_messages", "pricing_conversation_id")
    op.drop_column("wa_dlr_messages", "pricing_type")
    op.drop_column("wa_dlr_messages", "pricing_category")
    op.drop_column("wa_dlr_messages", "pricing_model")
    op.drop_column("wa_dlr_messages", "pricing_billable")
    op.drop_table("wa_shopper_languages")
    op.drop_column("poe_channel_settings", "monthlyTemplateCap")
    op.drop_column("poe_channel_settings", "language")
