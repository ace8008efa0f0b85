"""Appointments: a home visit booked to the hour (issue 14)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A table of its own: ``cases`` is not touched (no batch copy, whose deletion would cascade).
    op.create_table('appointments',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('case_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('optician_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('day', sa.Date(), nullable=True),
    sa.Column('hour', sa.SmallInteger(), nullable=True),
    sa.Column('proposed_by', sa.String(length=16), nullable=True),
    sa.Column('proposal', sa.SmallInteger(), server_default='0', nullable=False),
    sa.Column('remind_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reminded_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('confirmed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('en_route_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_appointments_case_id_cases'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['optician_id'], ['opticians.id'], name=op.f('fk_appointments_optician_id_opticians'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_appointments')),
    sa.UniqueConstraint('case_id', name=op.f('uq_appointments_case_id'))
    )
    op.create_index(op.f('ix_appointments_status_remind_at'), 'appointments', ['status', 'remind_at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_appointments_status_remind_at'), table_name='appointments')
    op.drop_table('appointments')
