"""The initial schema: the seed's tables, the product's own, the shipped reason rules and templates.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

from infrastructure.db.seed_data import RULES_V1, TEMPLATES_V1

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Self-contained column types: what the application's types store, frozen here.
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
DATETIME = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
LONG_TEXT = sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")
WA_ID = sa.String(255).with_variant(
    mysql.VARCHAR(255, charset="ascii", collation="ascii_bin"), "mysql", "mariadb"
)
REF_ID = sa.String(128).with_variant(
    mysql.VARCHAR(128, charset="ascii", collation="ascii_bin"), "mysql", "mariadb"
)
LONG_BYTES = sa.LargeBinary().with_variant(mysql.LONGBLOB(), "mysql", "mariadb")

#: The account the shipped default templates belong to (the seed's Eshopbox account), unless
#: ``fdr-whatsapp migrate`` passes the configured ``WA_DEFAULT_ACCOUNT_ID``.
DEFAULT_ACCOUNT_ID = 5


def upgrade() -> None:
    now = _current_timestamp()
    op.create_table(
        "poe_channel_notifications",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("notification_type", sa.String(length=64), nullable=False),
        sa.Column("isWhatsappEnabled", sa.Boolean(), nullable=False),
        sa.Column("whatsappTemplateId", sa.BigInteger(), nullable=True),
        sa.Column("created_at", DATETIME, server_default=now, nullable=False),
        sa.Column("updated_at", DATETIME, server_default=now, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("account_id", "notification_type", name="uq_channel_notification"),
    )
    op.create_table(
        "poe_channel_settings",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("whatsappSenderConnectionId", sa.BigInteger(), nullable=True),
        sa.Column("created_at", DATETIME, server_default=now, nullable=False),
        sa.Column("updated_at", DATETIME, server_default=now, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("account_id", name="uq_channel_settings_account"),
    )
    op.create_table(
        "wa_conversations",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("shipment_id", sa.BigInteger(), nullable=False),
        sa.Column("external_shipment_id", sa.String(length=128), nullable=False),
        sa.Column("shipment_status_log_id", sa.BigInteger(), nullable=False),
        sa.Column("order_number", sa.String(length=128), nullable=False),
        sa.Column("tracking_id", sa.String(length=128), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("customer_phone", sa.String(length=20), nullable=False),
        sa.Column("customer_name", sa.String(length=255), nullable=False),
        sa.Column("brand", sa.String(length=255), nullable=False),
        sa.Column("whatsappSenderConnectionId", sa.BigInteger(), nullable=False),
        sa.Column("wa_template_id", sa.BigInteger(), nullable=True),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("root_message_id", WA_ID, nullable=True),
        sa.Column("last_customer_message_at", DATETIME, nullable=True),
        sa.Column("nudged_at", DATETIME, nullable=True),
        sa.Column("created_at", DATETIME, server_default=now, nullable=False),
        sa.Column("updated_at", DATETIME, server_default=now, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "shipment_id", "shipment_status_log_id", name="uq_conversation_attempt"
        ),
    )
    op.create_index("ix_conversation_account", "wa_conversations", ["account_id", "id"])
    op.create_index("ix_conversation_root", "wa_conversations", ["root_message_id"])
    op.create_index("ix_conversation_phone", "wa_conversations", ["customer_phone", "id"])
    op.create_index("ix_conversation_shipment", "wa_conversations", ["shipment_id", "id"])
    op.create_table(
        "wa_customer_reply_messages",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("wa_context_outgoing_message_id", WA_ID, nullable=True),
        sa.Column("wa_root_outgoing_message_id", sa.BigInteger(), nullable=True),
        sa.Column("context_message_id", WA_ID, nullable=True),
        sa.Column("reply_message_id", WA_ID, nullable=False),
        sa.Column("customer_phone", sa.String(length=20), nullable=False),
        sa.Column("customer_reply_type", sa.String(length=32), nullable=False),
        sa.Column("customer_reply_value", LONG_TEXT, nullable=False),
        sa.Column("button_reply_id", sa.String(length=255), nullable=True),
        sa.Column("payload", LONG_TEXT, nullable=False),
        sa.Column("external_updated_at", DATETIME, nullable=False),
        sa.Column("decision", sa.Text(), nullable=True),
        sa.Column("handled_at", DATETIME, nullable=True),
        sa.Column("created_at", DATETIME, server_default=now, nullable=False),
        sa.Column("updated_at", DATETIME, server_default=now, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("reply_message_id", name="uq_reply_message_id"),
    )
    op.create_index("ix_reply_root", "wa_customer_reply_messages", ["wa_root_outgoing_message_id"])
    op.create_table(
        "wa_dlr_messages",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("wa_outgoing_message_id", sa.BigInteger(), nullable=True),
        sa.Column("message_id", WA_ID, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("client_ref", REF_ID, nullable=True),
        sa.Column("error_code", sa.Integer(), nullable=True),
        sa.Column("error_title", sa.String(length=255), nullable=True),
        sa.Column("payload", LONG_TEXT, nullable=False),
        sa.Column("external_timestamp", DATETIME, nullable=False),
        sa.Column("created_at", DATETIME, server_default=now, nullable=False),
        sa.Column("updated_at", DATETIME, server_default=now, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("message_id", "status", name="uq_dlr_message_status"),
    )
    op.create_index("ix_dlr_outgoing", "wa_dlr_messages", ["wa_outgoing_message_id"])
    op.create_table(
        "wa_fdr_events",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("event_key", REF_ID, nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=True),
        sa.Column("shipment_id", sa.BigInteger(), nullable=True),
        sa.Column("shipment_status_log_id", sa.BigInteger(), nullable=True),
        sa.Column("reason", sa.String(length=32), nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("conversation_id", sa.BigInteger(), nullable=True),
        sa.Column("error_code", sa.Integer(), nullable=True),
        sa.Column("received_at", DATETIME, nullable=False),
        sa.Column("created_at", DATETIME, server_default=now, nullable=False),
        sa.Column("updated_at", DATETIME, server_default=now, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event_key", name="uq_fdr_event_key"),
    )
    op.create_index("ix_fdr_event_account", "wa_fdr_events", ["account_id", "received_at"])
    op.create_table(
        "wa_fdr_reason_rules",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("pattern", sa.String(length=255), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("created_at", DATETIME, server_default=now, nullable=False),
        sa.Column("updated_at", DATETIME, server_default=now, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source", "pattern", name="uq_reason_rule"),
    )
    op.create_table(
        "wa_link_clicks",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("shipment_id", sa.BigInteger(), nullable=False),
        sa.Column("conversation_id", sa.BigInteger(), nullable=True),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("user_agent", sa.String(length=512), nullable=False),
        sa.Column("clicked_at", DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_link_click_shipment", "wa_link_clicks", ["shipment_id"])
    op.create_table(
        "wa_ndr_actions",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("conversation_id", sa.BigInteger(), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("shipment_id", sa.BigInteger(), nullable=False),
        sa.Column("external_shipment_id", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("reply_message_id", WA_ID, nullable=False),
        sa.Column("delivery_date", sa.Date(), nullable=True),
        sa.Column("phone", sa.String(length=20), nullable=True),
        sa.Column("disputed_fake_attempt", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("result", sa.Text(), nullable=False),
        sa.Column("created_at", DATETIME, server_default=now, nullable=False),
        sa.Column("updated_at", DATETIME, server_default=now, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("conversation_id", "kind", name="uq_ndr_action_kind"),
    )
    op.create_table(
        "wa_outgoing_messages",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("conversation_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("client_ref", REF_ID, nullable=False),
        sa.Column("shipment_status_log_id", sa.BigInteger(), nullable=False),
        sa.Column("whatsappSenderConnectionId", sa.BigInteger(), nullable=False),
        sa.Column("customer_phone", sa.String(length=20), nullable=False),
        sa.Column("business_phone", sa.String(length=20), nullable=False),
        sa.Column("wa_template_id", sa.BigInteger(), nullable=True),
        sa.Column("root_message_id", WA_ID, nullable=True),
        sa.Column("context_message_id", WA_ID, nullable=True),
        sa.Column("message_id", WA_ID, nullable=True),
        sa.Column("payload", LONG_TEXT, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error_code", sa.Integer(), nullable=True),
        sa.Column("error_title", sa.String(length=255), nullable=True),
        sa.Column("external_updated_at", DATETIME, nullable=True),
        sa.Column("created_at", DATETIME, server_default=now, nullable=False),
        sa.Column("updated_at", DATETIME, server_default=now, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("client_ref", name="uq_outgoing_client_ref"),
        sa.UniqueConstraint("message_id", name="uq_outgoing_message_id"),
    )
    op.create_index("ix_outgoing_conversation", "wa_outgoing_messages", ["conversation_id", "id"])
    op.create_index("ix_outgoing_root", "wa_outgoing_messages", ["root_message_id"])
    op.create_table(
        "wa_templates",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("template_name", sa.String(length=255), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("template_body", sa.Text(), nullable=False),
        sa.Column("variables", sa.String(length=1024), nullable=False),
        sa.Column("description", sa.String(length=255), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=True),
        sa.Column("buttons", sa.Text(), nullable=False),
        sa.Column("verified_at", DATETIME, nullable=True),
        sa.Column("meta_template_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", DATETIME, server_default=now, nullable=False),
        sa.Column("updated_at", DATETIME, server_default=now, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("account_id", "template_name", "language", name="uq_template_name"),
    )
    op.create_index("ix_template_reason", "wa_templates", ["account_id", "reason"])
    op.create_table(
        "wa_webhook_inbox",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("connection_id", sa.BigInteger(), nullable=True),
        sa.Column("body", LONG_BYTES, nullable=False),
        sa.Column("received_at", DATETIME, nullable=False),
        sa.Column("processed_at", DATETIME, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_inbox_pending", "wa_webhook_inbox", ["processed_at", "id"])

    _seed()


def _current_timestamp() -> sa.TextClause:
    if op.get_bind().dialect.name in ("mysql", "mariadb"):
        return sa.text("CURRENT_TIMESTAMP(6)")  # the default must match DATETIME(6)
    return sa.text("CURRENT_TIMESTAMP")


def _seed() -> None:
    rules = sa.table(
        "wa_fdr_reason_rules",
        sa.column("source", sa.String),
        sa.column("pattern", sa.String),
        sa.column("reason", sa.String),
        sa.column("priority", sa.Integer),
    )
    op.bulk_insert(rules, [dict(r) for r in RULES_V1])
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
                "buttons": json.dumps(t["buttons"]),
            }
            for t in TEMPLATES_V1
        ],
    )


def downgrade() -> None:
    op.drop_table("wa_webhook_inbox")
    op.drop_table("wa_templates")
    op.drop_table("wa_outgoing_messages")
    op.drop_table("wa_ndr_actions")
    op.drop_table("wa_link_clicks")
    op.drop_table("wa_fdr_reason_rules")
    op.drop_table("wa_fdr_events")
    op.drop_table("wa_dlr_messages")
    op.drop_table("wa_customer_reply_messages")
    op.drop_table("wa_conversations")
    op.drop_table("poe_channel_settings")
    op.drop_table("poe_channel_notifications")
