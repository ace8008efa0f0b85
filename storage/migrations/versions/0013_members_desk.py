"""The members' desk: an optician's WhatsApp number and declared kit date, the members' flow
sessions, their requests and threads, video follow-up slots, announcements (issue 16)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from sqlalchemy.dialects import postgresql

# Frozen here (a migration never follows later changes to storage/tables.py).
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Json = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
Time = sa.DateTime(timezone=True)

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def _fk(name: str, target: str, table: str, *, nullable: bool = False, ondelete: str = "CASCADE") -> sa.Column[int]:
    referred = target.split(".", 1)[0]
    return sa.Column(
        name,
        Id,
        sa.ForeignKey(target, ondelete=ondelete, name=f"fk_{table}_{name}_{referred}"),
        nullable=nullable,
    )


def upgrade() -> None:
    op.add_column("opticians", sa.Column("whatsapp", sa.String(32), nullable=True))
    op.add_column("opticians", sa.Column("kit_declared_on", sa.Date, nullable=True))
    op.add_column("opticians", sa.Column("kit_declared_at", Time, nullable=True))
    op.create_index("ix_opticians_whatsapp", "opticians", ["whatsapp"], unique=True)
    op.create_table(
        "member_sessions",
        _fk("optician_id", "opticians.id", "member_sessions"),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("data", Json, nullable=False),
        sa.Column("updated_at", Time, nullable=False),
        sa.PrimaryKeyConstraint("optician_id", "channel", name="pk_member_sessions"),
    )
    op.create_table(
        "member_requests",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("public_id", sa.String(32), nullable=False),
        sa.Column("reference", sa.String(16), nullable=False),
        _fk("optician_id", "opticians.id", "member_requests"),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("chat", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("amount_cents", sa.BigInteger, nullable=True),
        sa.Column("months", sa.SmallInteger, nullable=True),
        sa.Column("details", sa.Text, nullable=False),
        sa.Column("document_path", sa.String(255), nullable=True),
        sa.Column("document_name", sa.String(128), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=True),
        sa.Column("outcome_amount_cents", sa.BigInteger, nullable=True),
        sa.Column("outcome_months", sa.SmallInteger, nullable=True),
        _fk("claimed_by", "operators.id", "member_requests", nullable=True, ondelete="SET NULL"),
        sa.Column("claimed_at", Time, nullable=True),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("updated_at", Time, nullable=False),
        sa.Column("closed_at", Time, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_member_requests"),
        sa.UniqueConstraint("public_id", name="uq_member_requests_public_id"),
        sa.UniqueConstraint("reference", name="uq_member_requests_reference"),
    )
    op.create_index("ix_member_requests_status_created_at", "member_requests", ["status", "created_at"])
    op.create_index("ix_member_requests_optician_id_status", "member_requests", ["optician_id", "status"])
    op.create_table(
        "member_messages",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        _fk("request_id", "member_requests.id", "member_messages"),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("author", sa.String(64), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("message_id", Id, nullable=True),
        sa.Column("created_at", Time, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_member_messages"),
    )
    op.create_index("ix_member_messages_request_id_id", "member_messages", ["request_id", "id"])
    op.create_table(
        "video_slots",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("public_id", sa.String(32), nullable=False),
        sa.Column("starts_at", Time, nullable=False),
        sa.Column("minutes", sa.SmallInteger, nullable=False),
        sa.Column("room", sa.String(64), nullable=False),
        sa.Column("staff", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        _fk("optician_id", "opticians.id", "video_slots", nullable=True, ondelete="SET NULL"),
        _fk("request_id", "member_requests.id", "video_slots", nullable=True, ondelete="SET NULL"),
        sa.Column("channel", sa.String(16), nullable=True),
        sa.Column("taken_at", Time, nullable=True),
        sa.Column("remind_at", Time, nullable=True),
        sa.Column("reminded_at", Time, nullable=True),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", Time, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_video_slots"),
        sa.UniqueConstraint("public_id", name="uq_video_slots_public_id"),
    )
    op.create_index("ix_video_slots_status_starts_at", "video_slots", ["status", "starts_at"])
    op.create_index("ix_video_slots_remind_at", "video_slots", ["remind_at"])
    op.create_table(
        "announcements",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("public_id", sa.String(32), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("departments", Json, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("total", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("finished_at", Time, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_announcements"),
        sa.UniqueConstraint("public_id", name="uq_announcements_public_id"),
    )
    op.create_index("ix_announcements_status", "announcements", ["status"])
    op.create_table(
        "announcement_deliveries",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        _fk("announcement_id", "announcements.id", "announcement_deliveries"),
        _fk("optician_id", "opticians.id", "announcement_deliveries"),
        sa.Column("channel", sa.String(16), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("message_id", Id, nullable=True),
        sa.Column("error", sa.String(64), nullable=True),
        sa.Column("updated_at", Time, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_announcement_deliveries"),
        sa.UniqueConstraint(
            "announcement_id", "optician_id", name="uq_announcement_deliveries_announcement_id_optician_id"
        ),
    )
    op.create_index(
        "ix_announcement_deliveries_announcement_id_status",
        "announcement_deliveries",
        ["announcement_id", "status"],
    )
    op.create_index("ix_announcement_deliveries_status", "announcement_deliveries", ["status"])


def downgrade() -> None:
    op.drop_table("announcement_deliveries")
    op.drop_table("announcements")
    op.drop_table("video_slots")
    op.drop_table("member_messages")
    op.drop_table("member_requests")
    op.drop_table("member_sessions")
    op.drop_index("ix_opticians_whatsapp", table_name="opticians")
    op.drop_column("opticians", "kit_declared_at")
    op.drop_column("opticians", "kit_declared_on")
    op.drop_column("opticians", "whatsapp")
