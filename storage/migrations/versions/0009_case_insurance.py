"""The client's insurance ("mutuelle") on the case: its status, the insurer's name, the card (issue 14)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN on both databases: a batch copy of ``cases`` would cascade its deletion.
    op.add_column('cases', sa.Column('insurance_status', sa.String(length=16), nullable=True))
    op.add_column('cases', sa.Column('insurer', sa.String(length=120), nullable=True))
    op.add_column('cases', sa.Column('insurance_card_path', sa.String(length=255), nullable=True))


def downgrade() -> None:
    op.drop_column('cases', 'insurance_card_path')
    op.drop_column('cases', 'insurer')
    op.drop_column('cases', 'insurance_status')
