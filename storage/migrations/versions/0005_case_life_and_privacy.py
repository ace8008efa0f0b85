"""A case's whole life and personal data: follow-ups, anonymised cases, messages about a case, the
access journal

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('access_journal',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('client_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('case_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('detail', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_access_journal'))
    )
    op.create_index(op.f('ix_access_journal_at'), 'access_journal', ['at'], unique=False)
    # Plain ADD COLUMN on both databases (no batch copy of the tables: see 0004).
    op.add_column('cases', sa.Column('client_wrote_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('cases', sa.Column('reopened_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('cases', sa.Column('anonymised_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('messages', sa.Column('case_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True))
    op.create_index(op.f('ix_messages_case_id'), 'messages', ['case_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_messages_case_id'), table_name='messages')
    op.drop_column('messages', 'case_id')
    op.drop_column('cases', 'anonymised_at')
    op.drop_column('cases', 'reopened_at')
    op.drop_column('cases', 'client_wrote_at')
    op.drop_index(op.f('ix_access_journal_at'), table_name='access_journal')
    op.drop_table('access_journal')
