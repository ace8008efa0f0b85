"""Opticians and dispatch

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('opticians',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('public_id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('phone', sa.String(length=32), nullable=False),
    sa.Column('departments', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('kit_expires_on', sa.Date(), nullable=True),
    sa.Column('active', sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.Column('available', sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.Column('telegram_chat', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_opticians')),
    sa.UniqueConstraint('public_id', name=op.f('uq_opticians_public_id')),
    sa.UniqueConstraint('telegram_chat', name=op.f('uq_opticians_telegram_chat'))
    )
    op.create_table('optician_links',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('optician_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['optician_id'], ['opticians.id'], name=op.f('fk_optician_links_optician_id_opticians'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_optician_links')),
    sa.UniqueConstraint('code_hash', name=op.f('uq_optician_links_code_hash'))
    )
    op.create_table('dispatch_offers',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('public_id', sa.String(length=32), nullable=False),
    sa.Column('case_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('optician_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('round', sa.SmallInteger(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('message_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_dispatch_offers_case_id_cases'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['message_id'], ['messages.id'], name=op.f('fk_dispatch_offers_message_id_messages'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['optician_id'], ['opticians.id'], name=op.f('fk_dispatch_offers_optician_id_opticians'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dispatch_offers')),
    sa.UniqueConstraint('case_id', 'optician_id', name=op.f('uq_dispatch_offers_case_id_optician_id')),
    sa.UniqueConstraint('public_id', name=op.f('uq_dispatch_offers_public_id'))
    )
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('optician_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True))
        batch_op.add_column(sa.Column('dispatch_round', sa.SmallInteger(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('offered_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('no_taker_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('visit_outcome', sa.String(length=32), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_cases_optician_id_opticians'), 'opticians', ['optician_id'], ['id'], ondelete='SET NULL')

    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('external_id', sa.String(length=64), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_column('external_id')

    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_cases_optician_id_opticians'), type_='foreignkey')
        batch_op.drop_column('visit_outcome')
        batch_op.drop_column('no_taker_at')
        batch_op.drop_column('offered_at')
        batch_op.drop_column('dispatch_round')
        batch_op.drop_column('optician_id')

    op.drop_table('dispatch_offers')
    op.drop_table('optician_links')
    op.drop_table('opticians')
