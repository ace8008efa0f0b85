"""Indexes for a year of data (issue 17, big tables): the queue's keyset order, a client's
identities and conversations, and what the hourly retention sweep looks for — cases not anonymised
yet, cases holding a file, conversations and waitlist entries by age, processed inbox rows by age,
messages tied to no conversation nor case

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

# (name, table, columns, partial condition or None). Frozen here: a migration never follows later
# changes to storage/tables.py.
INDEXES: list[tuple[str, str, list[str], str | None]] = [
    ("ix_cases_priority_rank_created_at_id", "cases", ["priority_rank", "created_at", "id"], None),
    ("ix_cases_unanonymised", "cases", ["status", "done_at", "updated_at"], "anonymised_at IS NULL"),
    ("ix_cases_with_prescription", "cases", ["id"], "prescription_path IS NOT NULL"),
    ("ix_cases_with_insurance_card", "cases", ["id"], "insurance_card_path IS NOT NULL"),
    ("ix_identities_client_id", "identities", ["client_id"], None),
    ("ix_identities_with_data", "identities", ["client_id"], "external_id <> 'erased'"),
    ("ix_conversations_client_id", "conversations", ["client_id"], None),
    ("ix_conversations_updated_at", "conversations", ["updated_at"], None),
    ("ix_consents_client_id", "consents", ["client_id"], None),
    ("ix_waitlist_created_at", "waitlist", ["created_at"], None),
    ("ix_inbox_received_at", "inbox", ["received_at"], None),
    ("ix_messages_unattached", "messages", ["id"], "conversation_id IS NULL AND case_id IS NULL"),
]


def upgrade() -> None:
    for name, table, columns, where in INDEXES:
        if where is None:
            op.create_index(name, table, columns)
        else:
            op.create_index(
                name, table, columns, postgresql_where=sa.text(where), sqlite_where=sa.text(where)
            )


def downgrade() -> None:
    for name, table, _columns, _where in reversed(INDEXES):
        op.drop_index(name, table_name=table)
