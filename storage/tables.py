"""The schema, as SQLAlchemy Core tables (one definition for SQLite and PostgreSQL).

Core rather than ORM classes: the hot path writes many conversations' rows per transaction with
``executemany`` and reads plain rows; there is no object graph worth mapping.
The Alembic revisions under ``storage/migrations`` create exactly this schema (a test compares them).
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UtcDateTime(sa.TypeDecorator[datetime]):
    """A timestamp with time zone that reads back as aware UTC on SQLite too (which has no zones)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is not None and value.tzinfo is not None and dialect.name == "sqlite":
            return value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Json = sa.JSON().with_variant(JSONB(), "postgresql")
Time = UtcDateTime()


def _id() -> sa.Column[int]:
    return sa.Column("id", Id, primary_key=True, autoincrement=True)


def _fk(name: str, target: str, *, nullable: bool = False, ondelete: str = "CASCADE") -> sa.Column[int]:
    return sa.Column(name, Id, sa.ForeignKey(target, ondelete=ondelete), nullable=nullable)


clients = sa.Table(
    "clients",
    metadata,
    _id(),
    sa.Column("language", sa.String(2), nullable=False, server_default="fr"),
    sa.Column("unreachable", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", Time, nullable=False),
)

identities = sa.Table(
    "identities",
    metadata,
    _id(),
    _fk("client_id", "clients.id"),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("external_id", sa.String(128), nullable=False),
    # "channel:external_id", the key conversations are serialised on (locks, batching).
    sa.Column("key", sa.String(160), nullable=False, unique=True),
    # The conversation currently open on this identity (no FK: conversations point back here).
    sa.Column("conversation_id", Id, nullable=True),
    sa.Column("created_at", Time, nullable=False),
    sa.Index(None, "client_id"),  # a client's identities (their history, erasure)
    # The retention sweep reads only the clients not erased yet (storage/privacy/retention.py).
    sa.Index(
        "ix_identities_with_data",
        "client_id",
        postgresql_where=sa.text("external_id <> 'erased'"),
        sqlite_where=sa.text("external_id <> 'erased'"),
    ),
)

conversations = sa.Table(
    "conversations",
    metadata,
    _id(),
    sa.Column("public_id", sa.String(32), nullable=False, unique=True),
    _fk("client_id", "clients.id"),
    _fk("identity_id", "identities.id"),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("state", sa.String(32), nullable=False),
    sa.Column("owner", sa.String(16), nullable=False, server_default="bot"),
    sa.Column("operator", sa.String(64), nullable=True),
    sa.Column("language", sa.String(2), nullable=False, server_default="fr"),
    sa.Column("answers", Json, nullable=False),
    sa.Column("misses", sa.Integer, nullable=False, server_default="0"),
    sa.Column("notice_sent", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("updated_at", Time, nullable=False),
    sa.Column("closed_at", Time, nullable=True),
    sa.Index(None, "owner"),
    sa.Index(None, "client_id"),
    sa.Index(None, "updated_at"),  # the retention sweep: conversations used since the delay
)

# The transcript, and the outbox: an outbound row is delivered by the outbox sender, which records
# on it when it was sent (or failed). One row per message: state, transcript and the reply to send
# commit together (invariant 4) and the console sees each message's delivery status.
messages = sa.Table(
    "messages",
    metadata,
    _id(),
    _fk("conversation_id", "conversations.id", nullable=True),
    sa.Column("direction", sa.String(3), nullable=False),  # in | out
    sa.Column("author", sa.String(16), nullable=False),  # client | bot | operator
    sa.Column("channel", sa.String(16), nullable=False),
    # The client's id on the channel: the sender of an inbound row, the recipient of an outbound one.
    sa.Column("party", sa.String(128), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("payload", Json, nullable=True),  # key, choices, step, expects; what the client sent
    sa.Column("created_at", Time, nullable=False),
    # Delivery (outbound rows only).
    sa.Column("available_at", Time, nullable=True),
    sa.Column("sent_at", Time, nullable=True),
    sa.Column("failed_at", Time, nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_error", sa.String(255), nullable=True),
    # The platform's id of the sent message (Telegram's message_id, WhatsApp's wamid): to edit it
    # later, and to match the delivery receipts the platform sends back.
    sa.Column("external_id", sa.String(128), nullable=True),
    # Receipts from platforms that send them (WhatsApp): shown to the operator.
    sa.Column("delivered_at", Time, nullable=True),
    sa.Column("read_at", Time, nullable=True),
    # The case a message outside the client's conversation is about (an optician's offer, brief or
    # edit): erasure and retention find them by it. No foreign key: SQLite cannot add one to an
    # existing table without copying it (see docs/DECISIONS.md), and erasure deletes by this column.
    sa.Column("case_id", Id, nullable=True),
    sa.Index(None, "conversation_id", "id"),
    sa.Index(None, "case_id"),
    sa.Index(None, "channel", "party", "id"),
    sa.Index(None, "channel", "external_id"),
    sa.Index(
        "ix_messages_outbox",
        "channel",
        "id",
        postgresql_where=sa.text("direction = 'out' AND sent_at IS NULL AND failed_at IS NULL"),
        sqlite_where=sa.text("direction = 'out' AND sent_at IS NULL AND failed_at IS NULL"),
    ),
    # Messages about no conversation nor case (goodbyes, staff messages): the retention sweep's.
    sa.Index(
        "ix_messages_unattached",
        "id",
        postgresql_where=sa.text("conversation_id IS NULL AND case_id IS NULL"),
        sqlite_where=sa.text("conversation_id IS NULL AND case_id IS NULL"),
    ),
)

# Delivery receipts as the platform sent them (WhatsApp statuses: sent, delivered, read, failed),
# until they are applied to their message. A receipt may arrive before the sender has recorded the
# message's platform id: it waits here. A re-delivered receipt is the same row (unique).
delivery_receipts = sa.Table(
    "delivery_receipts",
    metadata,
    _id(),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("external_id", sa.String(128), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("at", Time, nullable=False),
    sa.Column("error_code", sa.Integer, nullable=True),
    sa.Column("error", sa.String(255), nullable=True),
    sa.Column("received_at", Time, nullable=False),
    sa.UniqueConstraint("channel", "external_id", "status"),
)

consents = sa.Table(
    "consents",
    metadata,
    _id(),
    _fk("client_id", "clients.id"),
    _fk("conversation_id", "conversations.id"),
    sa.Column("purpose", sa.String(32), nullable=False),
    sa.Column("wording_version", sa.String(32), nullable=False),
    sa.Column("given_at", Time, nullable=False),
    sa.Index(None, "client_id"),
)

cases = sa.Table(
    "cases",
    metadata,
    _id(),
    sa.Column("reference", sa.String(16), nullable=False, unique=True),
    sa.Column("public_id", sa.String(32), nullable=False, unique=True),
    _fk("client_id", "clients.id"),
    _fk("conversation_id", "conversations.id"),
    sa.Column("kind", sa.String(16), nullable=False),  # emergency | advisor
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("language", sa.String(2), nullable=False),
    sa.Column("need", sa.String(16), nullable=True),
    sa.Column("urgent", sa.Boolean, nullable=True),
    sa.Column("mode", sa.String(16), nullable=True),
    sa.Column("priority", sa.String(16), nullable=True),
    sa.Column("priority_rank", sa.SmallInteger, nullable=False),
    sa.Column("address", sa.Text, nullable=True),
    sa.Column("postal_code", sa.String(5), nullable=True),
    sa.Column("department", sa.String(3), nullable=True),
    sa.Column("slot_date", sa.Date, nullable=True),
    sa.Column("slot_part", sa.String(2), nullable=True),
    # "Dès que possible": slot_date/slot_part then hold the first half-day available when asked.
    sa.Column("slot_asap", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("contact_name", sa.String(128), nullable=True),
    sa.Column("contact_phone", sa.String(32), nullable=True),
    sa.Column("prescription_path", sa.String(255), nullable=True),
    # The client's insurance ("mutuelle"), optional: insured | none | skipped (NULL: not asked);
    # the insurer's name (as the shipped list writes it, or as typed); the card's photo.
    sa.Column("insurance_status", sa.String(16), nullable=True),
    sa.Column("insurer", sa.String(120), nullable=True),
    sa.Column("insurance_card_path", sa.String(255), nullable=True),
    _fk("consent_id", "consents.id", nullable=True, ondelete="SET NULL"),
    sa.Column("claimed_by", sa.String(64), nullable=True),
    sa.Column("cancel_reason", sa.Text, nullable=True),
    sa.Column("tracking_number", sa.String(32), nullable=True),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("updated_at", Time, nullable=False),
    # Service times: the first claim, the first operator reply, dispatch, the end.
    sa.Column("claimed_at", Time, nullable=True),
    sa.Column("first_response_at", Time, nullable=True),
    sa.Column("dispatched_at", Time, nullable=True),
    sa.Column("done_at", Time, nullable=True),
    # Home visits: the optician who took it, the current round of offers, the no-taker alert.
    _fk("optician_id", "opticians.id", nullable=True, ondelete="SET NULL"),
    sa.Column("dispatch_round", sa.SmallInteger, nullable=False, server_default="0"),
    sa.Column("offered_at", Time, nullable=True),
    sa.Column("no_taker_at", Time, nullable=True),
    sa.Column("visit_outcome", sa.String(32), nullable=True),
    # After hand-off: the client wrote and no operator answered yet (the queue shows it); the last
    # time a done or cancelled case was reopened by the client writing again.
    sa.Column("client_wrote_at", Time, nullable=True),
    sa.Column("reopened_at", Time, nullable=True),
    # Personal data removed (erasure or retention): what reports need stays.
    sa.Column("anonymised_at", Time, nullable=True),
    sa.Index(None, "status", "priority_rank", "created_at"),
    sa.Index(None, "client_id"),
    # The reports and the map read a period of cases, everywhere or in one department.
    sa.Index(None, "created_at"),
    sa.Index(None, "department", "created_at"),
    # The queue's order, walked by its keyset (storage/case_views.py::queue) whatever the statuses.
    sa.Index(None, "priority_rank", "created_at", "id"),
    # The retention sweep: cases not anonymised yet (a quarter of a year's), cases holding a file.
    sa.Index(
        "ix_cases_unanonymised",
        "status",
        "done_at",
        "updated_at",
        postgresql_where=sa.text("anonymised_at IS NULL"),
        sqlite_where=sa.text("anonymised_at IS NULL"),
    ),
    sa.Index(
        "ix_cases_with_prescription",
        "id",
        postgresql_where=sa.text("prescription_path IS NOT NULL"),
        sqlite_where=sa.text("prescription_path IS NOT NULL"),
    ),
    sa.Index(
        "ix_cases_with_insurance_card",
        "id",
        postgresql_where=sa.text("insurance_card_path IS NOT NULL"),
        sqlite_where=sa.text("insurance_card_path IS NOT NULL"),
    ),
)

waitlist = sa.Table(
    "waitlist",
    metadata,
    _id(),
    _fk("client_id", "clients.id"),
    _fk("conversation_id", "conversations.id"),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("language", sa.String(2), nullable=False),
    sa.Column("reason", sa.String(32), nullable=False),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("notified_at", Time, nullable=True),
    # Where the client waits (asked when they join; None: not given) and, for web chat clients who
    # cannot be reached once the page is closed, an e-mail address or a phone number to call back.
    sa.Column("department", sa.String(3), nullable=True),
    sa.Column("contact_email", sa.String(254), nullable=True),
    sa.Column("contact_phone", sa.String(32), nullable=True),
    sa.Index(None, "notified_at", "department"),
    sa.Index(None, "client_id"),
    sa.Index(None, "conversation_id"),  # the join-time answers update the conversation's entry
    sa.Index(None, "created_at"),  # the retention sweep
)

inbox = sa.Table(
    "inbox",
    metadata,
    _id(),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("external_id", sa.String(128), nullable=False),
    sa.Column("identity_key", sa.String(160), nullable=False),
    sa.Column("payload", Json, nullable=False),
    sa.Column("received_at", Time, nullable=False),
    sa.Column("processed_at", Time, nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("error", sa.String(255), nullable=True),
    sa.UniqueConstraint("channel", "external_id"),
    sa.Index(
        "ix_inbox_unprocessed",
        "id",
        postgresql_where=sa.text("processed_at IS NULL"),
        sqlite_where=sa.text("processed_at IS NULL"),
    ),
    sa.Index(None, "identity_key"),
    sa.Index(None, "received_at"),  # the retention sweep
)

# --- the operator console ------------------------------------------------------------------------

operators = sa.Table(
    "operators",
    metadata,
    _id(),
    sa.Column("public_id", sa.String(32), nullable=False, unique=True),
    sa.Column("name", sa.String(64), nullable=False, unique=True),
    sa.Column("role", sa.String(16), nullable=False),  # operator | admin
    sa.Column("password_hash", sa.String(255), nullable=False),  # argon2id
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("created_at", Time, nullable=False),
)

# A signed-in browser: the cookie holds a random token, the table its SHA-256.
console_sessions = sa.Table(
    "console_sessions",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    _fk("operator_id", "operators.id"),
    sa.Column("csrf", sa.String(64), nullable=False),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("seen_at", Time, nullable=False),
    sa.Column("expires_at", Time, nullable=False),
)

# Failed logins, for throttling (by name and by address); old rows are deleted as they expire.
login_failures = sa.Table(
    "login_failures",
    metadata,
    _id(),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("address", sa.String(64), nullable=False),
    sa.Column("at", Time, nullable=False),
    sa.Index(None, "name", "at"),
    sa.Index(None, "address", "at"),
)

case_notes = sa.Table(
    "case_notes",
    metadata,
    _id(),
    _fk("case_id", "cases.id"),
    sa.Column("author", sa.String(64), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("created_at", Time, nullable=False),
    sa.Index(None, "case_id", "id"),
)

canned_replies = sa.Table(
    "canned_replies",
    metadata,
    _id(),
    sa.Column("public_id", sa.String(32), nullable=False, unique=True),
    sa.Column("title", sa.String(80), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("created_by", sa.String(64), nullable=False),
    sa.Column("created_at", Time, nullable=False),
)

# --- opticians and home-visit dispatch ------------------------------------------------------------

opticians = sa.Table(
    "opticians",
    metadata,
    _id(),
    sa.Column("public_id", sa.String(32), nullable=False, unique=True),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("phone", sa.String(32), nullable=False),
    sa.Column("departments", Json, nullable=False),  # ["75", "92", ...]
    sa.Column("kit_expires_on", sa.Date, nullable=True),  # protection kit attested until
    # The last kit reminder sent (bot/dispatch/kits.py): the expiry date it was about, and its
    # stage (14 or 3 days before, 0 once expired). Another expiry date re-arms the reminders.
    sa.Column("kit_reminded_on", sa.Date, nullable=True),
    sa.Column("kit_reminded_days", sa.SmallInteger, nullable=True),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("available", sa.Boolean, nullable=False, server_default=sa.true()),  # /indisponible
    sa.Column("telegram_chat", sa.String(64), nullable=True, unique=True),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("updated_at", Time, nullable=False),
    # The members' desk (issue 16): the WhatsApp number (wa_id, digits) whose messages are this
    # optician's, set by an admin; a kit date the optician declared with /kit, until an admin
    # confirms it into ``kit_expires_on`` (or refuses it).
    sa.Column("whatsapp", sa.String(32), nullable=True),
    sa.Column("kit_declared_on", sa.Date, nullable=True),
    sa.Column("kit_declared_at", Time, nullable=True),
    sa.Index(None, "whatsapp", unique=True),
)

# One-time codes linking an optician's Telegram chat (/start optician_<code>); the hash is kept.
optician_links = sa.Table(
    "optician_links",
    metadata,
    _id(),
    sa.Column("code_hash", sa.String(64), nullable=False, unique=True),
    _fk("optician_id", "opticians.id"),
    sa.Column("created_by", sa.String(64), nullable=False),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("expires_at", Time, nullable=False),
    sa.Column("used_at", Time, nullable=True),
)

# A push offering a home visit to one optician: offered, then accepted, declined, taken (by
# another) or withdrawn (the case went to shipment or was cancelled).
dispatch_offers = sa.Table(
    "dispatch_offers",
    metadata,
    _id(),
    sa.Column("public_id", sa.String(32), nullable=False, unique=True),
    _fk("case_id", "cases.id"),
    _fk("optician_id", "opticians.id"),
    sa.Column("round", sa.SmallInteger, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    _fk("message_id", "messages.id", nullable=True, ondelete="SET NULL"),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("answered_at", Time, nullable=True),
    sa.UniqueConstraint("case_id", "optician_id"),
)


# --- personal data ---------------------------------------------------------------------------------

# Who opened, downloaded, exported or erased a client's personal data, and when (GDPR Art. 30/32).
# It never holds the data itself: the case and client are named by internal ids (which mean
# nothing once erased), the actor by an operator's name or a role.
access_journal = sa.Table(
    "access_journal",
    metadata,
    _id(),
    sa.Column("at", Time, nullable=False),
    sa.Column("actor", sa.String(64), nullable=False),  # an operator's name, "client", "cli:<user>"
    sa.Column("action", sa.String(32), nullable=False),  # view_case, prescription, export, erase...
    sa.Column("client_id", Id, nullable=True),
    sa.Column("case_id", Id, nullable=True),
    sa.Column("detail", sa.String(64), nullable=True),  # the channel, "admin", "retention"...
    sa.Index(None, "at"),
)

# Webhooks and messages that could never be stored (the database refuses them for a reason that
# will not change): answered 200 so the platform stops sending them, and counted here for the
# operators. Never the content: a digest of the raw body to match it with the platform's logs.
set_aside = sa.Table(
    "set_aside",
    metadata,
    _id(),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),  # webhook, message, status, update
    sa.Column("reason", sa.String(64), nullable=False),  # an error's kind, never its text
    sa.Column("digest", sa.String(64), nullable=False),  # sha256 hex of the raw body
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("received_at", Time, nullable=False),
    sa.Index(None, "received_at"),
)

# --- appointments: a home visit booked to the hour ---------------------------------------------------

# One per visit case (the optician who accepted it proposes a one-hour window, the client confirms):
# ``pending`` (accepted, no hour yet) → ``proposed`` → ``confirmed`` → ``en_route`` → ``done`` or
# ``impossible``; ``moved`` (the client asked for another moment: the optician proposes again) and
# ``cancelled``. Every change is a conditional UPDATE on the status (storage/appointments.py).
appointments = sa.Table(
    "appointments",
    metadata,
    _id(),
    _fk("case_id", "cases.id"),
    _fk("optician_id", "opticians.id", nullable=True, ondelete="SET NULL"),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("day", sa.Date, nullable=True),  # the visit's day and start hour, in Paris time
    sa.Column("hour", sa.SmallInteger, nullable=True),
    sa.Column("proposed_by", sa.String(16), nullable=True),  # optician | client
    # Counts the proposals: a client's button names the one it answers, so an old one is refused.
    sa.Column("proposal", sa.SmallInteger, nullable=False, server_default="0"),
    sa.Column("remind_at", Time, nullable=True),  # the morning reminder is due (none if past)
    sa.Column("reminded_at", Time, nullable=True),  # set in the transaction that enqueued it
    sa.Column("created_at", Time, nullable=False),
    sa.Column("updated_at", Time, nullable=False),
    sa.Column("confirmed_at", Time, nullable=True),
    sa.Column("en_route_at", Time, nullable=True),
    sa.Column("ended_at", Time, nullable=True),
    sa.UniqueConstraint("case_id"),
    sa.Index(None, "status", "remind_at"),
)


# --- running the crisis (issue 15) -------------------------------------------------------------------

# The service level, national (scope "national") and per department (scope "75", "2A", "971"...):
# normal (every need), crisis (emergencies only), suspended (no new requests). A department's row
# overrides the national one there; no row: the national level (crisis when none was ever set).
service_levels = sa.Table(
    "service_levels",
    metadata,
    sa.Column("scope", sa.String(8), primary_key=True),
    sa.Column("level", sa.String(16), nullable=False),
    sa.Column("set_by", sa.String(64), nullable=False),  # an operator's name or "cli:<user>"
    sa.Column("set_at", Time, nullable=False),
)

# A message to the clients on the waitlist who match a filter (a level change or an admin's
# "Prévenir"): one row per client in ``broadcast_deliveries``, written when the broadcast starts,
# so a restart resumes it and a client is never told twice.
broadcasts = sa.Table(
    "broadcasts",
    metadata,
    _id(),
    sa.Column("public_id", sa.String(32), nullable=False, unique=True),
    sa.Column("trigger", sa.String(16), nullable=False),  # level | manual
    sa.Column("level", sa.String(16), nullable=False),  # the level announced
    sa.Column("department", sa.String(3), nullable=True),  # filter: None for all
    sa.Column("reason", sa.String(32), nullable=True),  # filter
    sa.Column("channel", sa.String(16), nullable=True),  # filter
    sa.Column("status", sa.String(16), nullable=False),  # running | done | cancelled
    sa.Column("total", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created_by", sa.String(64), nullable=False),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("finished_at", Time, nullable=True),
    sa.Index(None, "status"),
)

broadcast_deliveries = sa.Table(
    "broadcast_deliveries",
    metadata,
    _id(),
    _fk("broadcast_id", "broadcasts.id"),
    _fk("waitlist_id", "waitlist.id"),
    # telegram | whatsapp | whatsapp_template | webchat | email | callback (a phone to call back)
    sa.Column("route", sa.String(24), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # pending | sent | failed | callback
    # The outbound row that carries it (no foreign key: messages go on their own retention).
    sa.Column("message_id", Id, nullable=True),
    sa.Column("error", sa.String(64), nullable=True),  # an error's kind, never personal data
    sa.Column("updated_at", Time, nullable=False),
    sa.UniqueConstraint("broadcast_id", "waitlist_id"),
    sa.Index(None, "broadcast_id", "status"),
    sa.Index(None, "waitlist_id"),
    sa.Index(None, "status"),
)

# Opticians who asked to join the network ("Rejoindre le réseau": /rejoindre and the public page):
# new → contacted → accepted → registered (an optician's entry is created and linked), or declined.
candidates = sa.Table(
    "candidates",
    metadata,
    _id(),
    sa.Column("public_id", sa.String(32), nullable=False, unique=True),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("phone", sa.String(32), nullable=False),
    sa.Column("email", sa.String(254), nullable=False),
    sa.Column("departments", Json, nullable=False),  # ["75", "92", ...]
    sa.Column("registration", sa.String(16), nullable=False),  # RPPS (11 digits) or ADELI (9)
    sa.Column("has_kit", sa.Boolean, nullable=False),
    sa.Column("source", sa.String(16), nullable=False),  # web | telegram | whatsapp
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("note", sa.String(500), nullable=True),  # staff's note (no client data)
    _fk("optician_id", "opticians.id", nullable=True, ondelete="SET NULL"),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("updated_at", Time, nullable=False),
    sa.Column("status_by", sa.String(64), nullable=True),
    sa.Index(None, "status", "created_at"),
)


# --- the members' desk (issue 16) -------------------------------------------------------------------

# Where a member (an optician of the network) stands in the members' menu and the request flow
# (flows/members.py), one row per optician and chat channel: the flow's state and what it gathered.
member_sessions = sa.Table(
    "member_sessions",
    metadata,
    _fk("optician_id", "opticians.id"),
    sa.Column("channel", sa.String(16), nullable=False),  # telegram | whatsapp
    sa.Column("state", sa.String(32), nullable=False),
    sa.Column("data", Json, nullable=False),
    sa.Column("updated_at", Time, nullable=False),
    sa.PrimaryKeyConstraint("optician_id", "channel"),
)

# A member's request for support: kind (state_aid, short_time, guaranteed_loan, commission_advance,
# royalty_deferral, video, other), what they asked (amount in cents, months), their details and an
# optional document (encrypted in the data folder). Staff (the "network" role) claim and answer it:
# new → in_progress → answered → closed, with an outcome (granted | refused | redirected).
member_requests = sa.Table(
    "member_requests",
    metadata,
    _id(),
    sa.Column("public_id", sa.String(32), nullable=False, unique=True),
    sa.Column("reference", sa.String(16), nullable=False, unique=True),  # "A-7K3Q9X", said to the member
    _fk("optician_id", "opticians.id"),
    sa.Column("channel", sa.String(16), nullable=False),  # where the member asked: answers go there
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
    _fk("claimed_by", "operators.id", nullable=True, ondelete="SET NULL"),
    sa.Column("claimed_at", Time, nullable=True),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("updated_at", Time, nullable=False),
    sa.Column("closed_at", Time, nullable=True),
    sa.Index(None, "status", "created_at"),
    sa.Index(None, "optician_id", "status"),
)

# A request's thread: what the member wrote (in), what staff answered (out: the outbound row in
# ``message_id``), internal notes (note, never sent) and the steps the member was told (event).
member_messages = sa.Table(
    "member_messages",
    metadata,
    _id(),
    _fk("request_id", "member_requests.id"),
    sa.Column("kind", sa.String(8), nullable=False),  # in | out | note | event
    sa.Column("author", sa.String(64), nullable=False),  # "member", a staff name, "bot"
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("message_id", Id, nullable=True),  # the outbound row (no foreign key: own retention)
    sa.Column("created_at", Time, nullable=False),
    sa.Index(None, "request_id", "id"),
)

# Video follow-ups: a slot staff publish; a member takes it atomically (one conditional UPDATE on
# ``status``); both get the Jitsi Meet link made from ``room``, and a reminder an hour before.
video_slots = sa.Table(
    "video_slots",
    metadata,
    _id(),
    sa.Column("public_id", sa.String(32), nullable=False, unique=True),
    sa.Column("starts_at", Time, nullable=False),
    sa.Column("minutes", sa.SmallInteger, nullable=False),
    sa.Column("room", sa.String(64), nullable=False),  # random: the meeting's URL is made from it
    sa.Column("staff", sa.String(64), nullable=False),  # who holds it (a staff name)
    sa.Column("status", sa.String(16), nullable=False),  # open | taken | cancelled
    _fk("optician_id", "opticians.id", nullable=True, ondelete="SET NULL"),
    _fk("request_id", "member_requests.id", nullable=True, ondelete="SET NULL"),
    sa.Column("channel", sa.String(16), nullable=True),  # where the member took it: reminders go there
    sa.Column("taken_at", Time, nullable=True),
    sa.Column("remind_at", Time, nullable=True),
    sa.Column("reminded_at", Time, nullable=True),
    sa.Column("created_by", sa.String(64), nullable=False),
    sa.Column("created_at", Time, nullable=False),
    sa.Index(None, "status", "starts_at"),
    sa.Index(None, "remind_at"),
)

# A message from the federation to its members (all, or those of some departments): one row per
# member in ``announcement_deliveries``, written when it is sent, so a restart resumes it and a
# member is never told twice.
announcements = sa.Table(
    "announcements",
    metadata,
    _id(),
    sa.Column("public_id", sa.String(32), nullable=False, unique=True),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("departments", Json, nullable=True),  # None: every member
    sa.Column("status", sa.String(16), nullable=False),  # running | done | cancelled
    sa.Column("total", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created_by", sa.String(64), nullable=False),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("finished_at", Time, nullable=True),
    sa.Index(None, "status"),
)

announcement_deliveries = sa.Table(
    "announcement_deliveries",
    metadata,
    _id(),
    _fk("announcement_id", "announcements.id"),
    _fk("optician_id", "opticians.id"),
    sa.Column("channel", sa.String(16), nullable=True),  # telegram | whatsapp; None: not reachable
    sa.Column("status", sa.String(16), nullable=False),  # pending | queued | sent | failed | unreachable
    sa.Column("message_id", Id, nullable=True),  # the outbound row that carries it
    sa.Column("error", sa.String(64), nullable=True),
    sa.Column("updated_at", Time, nullable=False),
    sa.UniqueConstraint("announcement_id", "optician_id"),
    sa.Index(None, "announcement_id", "status"),
    sa.Index(None, "status"),
)
