"""The skip reason of an FDR event as a column of its own (``wa_fdr_events.skip_reason``),
backfilled from the detail text, which starts with it (``whatsapp_disabled: ...``).

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The column's length: every ``SkipReason`` value fits; a longer head stays unnamed ("other").
_LENGTH = 32


def upgrade() -> None:
    op.add_column("wa_fdr_events", sa.Column("skip_reason", sa.String(_LENGTH), nullable=True))
    # What the stats read from the detail until now: its text up to the first ':'. INSTR and
    # SUBSTR are the same on MariaDB and SQLite.
    op.execute(
        sa.text(
            "UPDATE wa_fdr_events SET skip_reason = SUBSTR(detail, 1, INSTR(detail, ':') - 1) "
            "WHERE outcome = 'skipped' AND INSTR(detail, ':') BETWEEN 1 AND :longest"
        ).bindparams(longest=_LENGTH + 1)
    )


def downgrade() -> None:
    op.drop_column("wa_fdr_events", "skip_reason")
