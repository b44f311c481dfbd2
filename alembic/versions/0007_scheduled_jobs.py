"""Work due later: the scheduled jobs table (reminders, default actions), each workspace's
reminder delay, cut-off and default action per reason, and automatic NDR actions.

Revision ID: 0007
Revises: 0005
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

from infrastructure.db.seed_data import REMINDER_TEMPLATE, TEMPLATES_REMINDER_V3

revision: str = "0007"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UTC = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
#: As in 0001: the shipped templates belong to the configured default account.
DEFAULT_ACCOUNT_ID = 5
_REF = sa.String(128).with_variant(
    mysql.VARCHAR(128, charset="ascii", collation="ascii_bin"), "mysql", "mariadb"
)


def upgrade() -> None:
    op.create_table(
        "wa_scheduled_jobs",
        sa.Column("id", _BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("job_key", _REF, nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("conversation_id", sa.BigInteger(), nullable=True),
        sa.Column("due_at", _UTC, nullable=False),
        sa.Column("run_after", _UTC, nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_at", _UTC, nullable=True),
        sa.Column("done_at", _UTC, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("created_at", _UTC, nullable=False),
        sa.Column("updated_at", _UTC, nullable=False),
        sa.UniqueConstraint("kind", "job_key", name="uq_scheduled_job_key"),
    )
    op.create_index("ix_scheduled_job_claim", "wa_scheduled_jobs", ["state", "run_after"])
    op.create_index("ix_scheduled_job_conversation", "wa_scheduled_jobs", ["conversation_id"])
    op.add_column(
        "poe_channel_settings", sa.Column("reminderDelayMinutes", sa.Integer(), nullable=True)
    )
    op.add_column(
        "poe_channel_settings",
        sa.Column("defaultActionCutoffMinutes", sa.Integer(), nullable=True),
    )
    op.add_column(
        "poe_channel_notifications",
        sa.Column("whatsappDefaultAction", sa.String(20), nullable=True),
    )
    op.add_column(
        "wa_ndr_actions",
        sa.Column("automatic", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    _seed_reminder_templates()


def _templates() -> sa.TableClause:
    return sa.table(
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


def _seed_reminder_templates() -> None:
    default_account = int(
        op.get_context().config.attributes.get(  # type: ignore[union-attr]
            "default_account_id", DEFAULT_ACCOUNT_ID
        )
    )
    op.bulk_insert(
        _templates(),
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
            for t in TEMPLATES_REMINDER_V3
        ],
    )


def downgrade() -> None:
    templates = _templates()
    op.execute(templates.delete().where(templates.c.template_name == REMINDER_TEMPLATE))
    op.drop_column("wa_ndr_actions", "automatic")
    op.drop_column("poe_channel_notifications", "whatsappDefaultAction")
    op.drop_column("poe_channel_settings", "defaultActionCutoffMinutes")
    op.drop_column("poe_channel_settings", "reminderDelayMinutes")
    op.drop_index("ix_scheduled_job_conversation", "wa_scheduled_jobs")
    op.drop_index("ix_scheduled_job_claim", "wa_scheduled_jobs")
    op.drop_table("wa_scheduled_jobs")
