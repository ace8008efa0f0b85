"""Running the crisis: service levels, the waitlist's department and contact, broadcasts, candidates
(issue 15)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from sqlalchemy.dialects import postgresql

# Frozen here (a migration never follows later changes to storage/tables.py).
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Json = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
Time = sa.DateTime(timezone=True)

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("waitlist", sa.Column("department", sa.String(3), nullable=True))
    op.add_column("waitlist", sa.Column("contact_email", sa.String(254), nullable=True))
    op.add_column("waitlist", sa.Column("contact_phone", sa.String(32), nullable=True))
    op.create_index("ix_waitlist_notified_at_department", "waitlist", ["notified_at", "department"])
    op.create_table(
        "service_levels",
        sa.Column("scope", sa.String(8), nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("set_by", sa.String(64), nullable=False),
        sa.Column("set_at", Time, nullable=False),
        sa.PrimaryKeyConstraint("scope", name="pk_service_levels"),
    )
    op.create_table(
        "broadcasts",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("public_id", sa.String(32), nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("department", sa.String(3), nullable=True),
        sa.Column("reason", sa.String(32), nullable=True),
        sa.Column("channel", sa.String(16), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("total", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("finished_at", Time, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_broadcasts"),
        sa.UniqueConstraint("public_id", name="uq_broadcasts_public_id"),
    )
    op.create_index("ix_broadcasts_status", "broadcasts", ["status"])
    op.create_table(
        "broadcast_deliveries",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column(
            "broadcast_id",
            Id,
            sa.ForeignKey(
                "broadcasts.id", ondelete="CASCADE", name="fk_broadcast_deliveries_broadcast_id_broadcasts"
            ),
            nullable=False,
        ),
        sa.Column(
            "waitlist_id",
            Id,
            sa.ForeignKey(
                "waitlist.id", ondelete="CASCADE", name="fk_broadcast_deliveries_waitlist_id_waitlist"
            ),
            nullable=False,
        ),
        sa.Column("route", sa.String(24), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("message_id", Id, nullable=True),
        sa.Column("error", sa.String(64), nullable=True),
        sa.Column("updated_at", Time, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_broadcast_deliveries"),
        sa.UniqueConstraint(
            "broadcast_id", "waitlist_id", name="uq_broadcast_deliveries_broadcast_id_waitlist_id"
        ),
    )
    op.create_index(
        "ix_broadcast_deliveries_broadcast_id_status", "broadcast_deliveries", ["broadcast_id", "status"]
    )
    op.create_table(
        "candidates",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("public_id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("phone", sa.String(32), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("departments", Json, nullable=False),
        sa.Column("registration", sa.String(16), nullable=False),
        sa.Column("has_kit", sa.Boolean, nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("note", sa.String(500), nullable=True),
        sa.Column(
            "optician_id",
            Id,
            sa.ForeignKey("opticians.id", ondelete="SET NULL", name="fk_candidates_optician_id_opticians"),
            nullable=True,
        ),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("updated_at", Time, nullable=False),
        sa.Column("status_by", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_candidates"),
        sa.UniqueConstraint("public_id", name="uq_candidates_public_id"),
    )
    op.create_index("ix_candidates_status_created_at", "candidates", ["status", "created_at"])


def downgrade() -> None:
    op.drop_table("candidates")
    op.drop_table("broadcast_deliveries")
    op.drop_table("broadcasts")
    op.drop_table("service_levels")
    op.drop_index("ix_waitlist_notified_at_department", table_name="waitlist")
    with op.batch_alter_table("waitlist") as batch:
        batch.drop_column("contact_phone")
        batch.drop_column("contact_email")
        batch.drop_column("department")
