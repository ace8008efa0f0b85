"""WhatsApp: delivery receipts, delivered/read times, longer platform message ids

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('delivery_receipts',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('external_id', sa.String(length=128), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('error_code', sa.Integer(), nullable=True),
    sa.Column('error', sa.String(length=255), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_delivery_receipts')),
    sa.UniqueConstraint('channel', 'external_id', 'status', name=op.f('uq_delivery_receipts_channel_external_id_status'))
    )
    op.add_column('messages', sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('messages', sa.Column('read_at', sa.DateTime(timezone=True), nullable=True))
    # On SQLite the table is copied (ALTER cannot change a column there).
    with op.batch_alter_table('messages') as batch:
        batch.alter_column('external_id', type_=sa.String(length=128), existing_nullable=True)
    op.create_index(op.f('ix_messages_channel_external_id'), 'messages', ['channel', 'external_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_messages_channel_external_id'), table_name='messages')
    with op.batch_alter_table('messages') as batch:
        batch.alter_column('external_id', type_=sa.String(length=64), existing_nullable=True)
    op.drop_column('messages', 'read_at')
    op.drop_column('messages', 'delivered_at')
    op.drop_table('delivery_receipts')
