"""The opticians' kit reminders: which reminder went, for which expiry date (issue 15)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN on both databases: a batch copy of ``opticians`` would cascade to its rows'
    # cases and offers.
    op.add_column("opticians", sa.Column("kit_reminded_on", sa.Date(), nullable=True))
    op.add_column("opticians", sa.Column("kit_reminded_days", sa.SmallInteger(), nullable=True))


def downgrade() -> None:
    op.drop_column("opticians", "kit_reminded_days")
    op.drop_column("opticians", "kit_reminded_on")
