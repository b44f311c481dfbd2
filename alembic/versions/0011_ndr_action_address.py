"""The new delivery address of an ``update_address`` action, kept with the action
(``wa_ndr_actions.address``): the thread can show what the shopper asked for, and the ESB is
asked from the record alone (docs/esb.md). Actions recorded before keep ``NULL``.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Characters: the tracking page takes 10 to 500 (``ask_from_tracking_page.ADDRESS_MAX``).
_LENGTH = 500


def upgrade() -> None:
    op.add_column("wa_ndr_actions", sa.Column("address", sa.String(_LENGTH), nullable=True))


def downgrade() -> None:
    # Drops the addresses with the column: the ESB has them (docs/deploy.md).
    op.drop_column("wa_ndr_actions", "address")
