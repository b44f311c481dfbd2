"""Templates found by Meta's id (its status webhook) and the business account they were
verified on; webhook bodies picked by size; conversations by account and creation time.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The portal's date-range queries (stats, conversations): added to 0001 after it had
    # shipped, so databases already at 0001 get it here.
    op.create_index(
        "ix_conversation_account_created", "wa_conversations", ["account_id", "created_at"]
    )
    op.create_index("ix_template_meta_id", "wa_templates", ["meta_template_id"])
    # Verified templates from before this revision: on an account not recorded (checks skip).
    op.add_column("wa_templates", sa.Column("verified_waba_id", sa.String(64), nullable=True))
    # Bodies stored before this revision count as 0 bytes: they are already in the backlog.
    op.add_column(
        "wa_webhook_inbox",
        sa.Column("body_bytes", sa.Integer(), nullable=False, server_default="0"),
    )


def downgrade() -> None:
    op.drop_column("wa_webhook_inbox", "body_bytes")
    op.drop_column("wa_templates", "verified_waba_id")
    op.drop_index("ix_template_meta_id", table_name="wa_templates")
    op.drop_index("ix_conversation_account_created", table_name="wa_conversations")
