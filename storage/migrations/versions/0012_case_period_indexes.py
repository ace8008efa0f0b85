"""Indexes for a period of cases, everywhere or in one department (the reports and the map), and
for the waitlist (a client's entries, a conversation's entry, an entry's deliveries, deliveries by status)
(issue 15)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_cases_created_at", "cases", ["created_at"])
    op.create_index("ix_cases_department_created_at", "cases", ["department", "created_at"])
    op.create_index("ix_waitlist_client_id", "waitlist", ["client_id"])
    op.create_index("ix_waitlist_conversation_id", "waitlist", ["conversation_id"])
    op.create_index("ix_broadcast_deliveries_waitlist_id", "broadcast_deliveries", ["waitlist_id"])
    op.create_index("ix_broadcast_deliveries_status", "broadcast_deliveries", ["status"])


def downgrade() -> None:
    op.drop_index("ix_broadcast_deliveries_status", table_name="broadcast_deliveries")
    op.drop_index("ix_broadcast_deliveries_waitlist_id", table_name="broadcast_deliveries")
    op.drop_index("ix_waitlist_conversation_id", table_name="waitlist")
    op.drop_index("ix_waitlist_client_id", table_name="waitlist")
    op.drop_index("ix_cases_department_created_at", table_name="cases")
    op.drop_index("ix_cases_created_at", table_name="cases")
