"""Templates found by Meta's id (its status webhook) and the business account they were
verified on; webhook bodies picked by size.

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
