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
    _external_id_length(64, 128)
    op.create_index(op.f('ix_messages_channel_external_id'), 'messages', ['channel', 'external_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_messages_channel_external_id'), table_name='messages')
    _external_id_length(128, 64)
    op.drop_column('messages', 'read_at')
    op.drop_column('messages', 'delivered_at')
    op.drop_table('delivery_receipts')


def _external_id_length(before: int, after: int) -> None:
    """Change the length of ``messages.external_id``, on PostgreSQL only.

    SQLite does not enforce a VARCHAR's length (the column has TEXT affinity and stores any length),
    so there is nothing to change there. Changing it anyway would take batch mode, which copies
    ``messages``, drops the original and renames the copy: with ``PRAGMA foreign_keys=ON`` (set on
    every connection by ``storage.database``, migrations included; switching it off is a no-op
    inside a transaction) the DROP fires ``ON DELETE SET NULL`` on ``dispatch_offers.message_id``,
    and every offer would lose its message (in the downgrade too).
    ``storage.migrate.compare_type`` does not report VARCHAR lengths on SQLite, for the same reason.
    """
    if op.get_bind().dialect.name == 'sqlite':
        return
    op.alter_column(
        'messages',
        'external_id',
        existing_type=sa.String(length=before),
        type_=sa.String(length=after),
        existing_nullable=True,
    )
