"""Indexes for a period of cases, everywhere or in one department (the reports and the map,
issue 15)

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


def downgrade() -> None:
    op.drop_index("ix_cases_department_created_at", table_name="cases")
    op.drop_index("ix_cases_created_at", table_name="cases")
