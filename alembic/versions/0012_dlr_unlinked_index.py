"""The statuses stored ahead of their message, by when they were stored: ``ix_dlr_outgoing``
(``wa_outgoing_message_id``) becomes ``ix_dlr_outgoing_created`` (``wa_outgoing_message_id``,
``created_at``). The sweep that links such statuses reads the unlinked ones (NULL) of a recent
window as one range of it; the reads by message use its first column as before, and a status
stored still writes one index (docs/sending.md, "Statuses ahead of Meta's answer").

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The new one first: the reads by message always have an index to use.
    op.create_index(
        "ix_dlr_outgoing_created", "wa_dlr_messages", ["wa_outgoing_message_id", "created_at"]
    )
    op.drop_index("ix_dlr_outgoing", table_name="wa_dlr_messages")


def downgrade() -> None:
    op.create_index("ix_dlr_outgoing", "wa_dlr_messages", ["wa_outgoing_message_id"])
    op.drop_index("ix_dlr_outgoing_created", table_name="wa_dlr_messages")
