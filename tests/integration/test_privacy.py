"""Personal data on both databases: every column is accounted for, the export holds everything
stored about the client, and retention removes what is past its delay (with a fake clock)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from storage import privacy, set_aside
from storage.privacy import PERSONAL_DATA
from storage.tables import (
    access_journal,
    case_notes,
    cases,
    clients,
    consents,
    conversations,
    identities,
    inbox,
    messages,
    metadata,
    waitlist,
)
from tests.harness import Harness, harness
from tests.integration.test_conversations import tiny_png

VISIT = [
    "mes lunettes sont cassées",
    "oui",
    "je suis infirmière",
    "à domicile",
    "oui",
    "12 rue Canaryhill 75011 Paris",
    "demain matin",
    "Zephyrine Quarkwell",
    "06 47 11 92 38",
    "Mutuelle Farfadette",  # an insurer the shipped list does not know
    "passer",  # no photo of the card
]


def test_every_column_of_the_schema_says_what_erasure_does_to_it() -> None:
    """A new column (or table) must be named in ``PERSONAL_DATA``: nobody can add a place holding
    personal data that erasure, export and retention do not know about."""
    treatments = {"delete", "blank", "hash", "keep", "staff"}
    for table in metadata.tables.values():
        assert table.name in PERSONAL_DATA, f"{table.name} is not in storage.privacy.PERSONAL_DATA"
        named = PERSONAL_DATA[table.name]
        if isinstance(named, dict):
            assert set(named) == {c.name for c in table.c}, f"{table.name}: columns differ"
            assert set(named.values()) <= treatments
        else:
            assert named in treatments
    assert set(PERSONAL_DATA) == set(metadata.tables)


async def _visit(h: Harness, user: str) -> None:
    for text in VISIT:
        await h.send(user, text=text)
    await h.send(user, text="oui")


async def _case_of(h: Harness, user: str) -> Any:
    (identity,) = await h.rows(identities, identities.c.key == f"script:{user}")
    (case,) = await h.rows(cases, cases.c.client_id == identity.client_id)
    return case


def _strings(value: Any) -> list[str]:
    """Every string and number in a JSON-ready value, flattened."""
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [] if value is None else [str(value)]


async def test_the_export_holds_everything_stored_about_the_client(database_url: str, tmp_path: Path) -> None:
    async with harness(database_url, tmp_path) as h:
        user = "exported"
        await h.send(user, text="mes lunettes ne me conviennent plus")
        path = h.services.files.save(tiny_png())
        await h.send(user, media=path)
        for text in VISIT[1:-1]:
            await h.send(user, text=text)
        card = h.services.files.save(tiny_png(), folder="insurance")
        await h.send(user, media=card)  # the insurance card's photo, not "passer"
        await h.send(user, text="oui")
        case = await _case_of(h, user)
        assert (case.insurer, case.insurance_card_path) == ("Mutuelle Farfadette", card)
        await h.send(user, text="est-ce que c'est parti ? Pistachiox")
        async with h.services.database.begin() as connection:
            await connection.execute(
                sa.insert(case_notes).values(
                    case_id=case.id, author="alice", text="Rappeler Zephyrine", created_at=h.clock.now
                )
            )
            await connection.execute(
                sa.insert(waitlist).values(
                    client_id=case.client_id,
                    conversation_id=case.conversation_id,
                    channel="script",
                    language="fr",
                    reason="other",
                    created_at=h.clock.now,
                )
            )
        replies = await h.send(user, text="mes données")
        assert replies[0]["key"] == "my_data.header"
        document = replies[0]["document"]
        record = json.loads(h.services.files.read(document["path"]))
        exported = "\n".join(_strings(record))
        # Every value of every personal column of the client's rows is in the export.
        stored = await _personal_values(h, case.client_id)
        assert stored  # the client has data: names, phone, address, texts, notes...
        missing = [(where, v) for where, v in stored if v not in exported]
        assert not missing, missing
        assert record["files"][0]["base64"]  # the prescription itself
        assert len([f for f in record["files"] if f["base64"]]) == 2  # and the insurance card
        assert document["filename"].startswith("optibot-mes-donnees-")
        (line,) = await h.rows(access_journal, access_journal.c.action == "export")
        assert (line.actor, line.client_id, line.detail) == ("client", case.client_id, "script")


async def _personal_values(h: Harness, client_id: int) -> list[tuple[str, str]]:
    """(table.column, value) for every non-empty personal value stored about the client."""
    found: list[tuple[str, str]] = []
    (convo_ids, case_ids) = (
        [c.id for c in await h.rows(conversations, conversations.c.client_id == client_id)],
        [c.id for c in await h.rows(cases, cases.c.client_id == client_id)],
    )
    wanted = {
        "identities": await h.rows(identities, identities.c.client_id == client_id),
        "cases": await h.rows(cases, cases.c.client_id == client_id),
        "messages": [  # but the export's own message, written with it
            m
            for m in await h.rows(messages, messages.c.conversation_id.in_(convo_ids))
            if (m.payload or {}).get("key") != "my_data.header"
        ],
        "case_notes": await h.rows(case_notes, case_notes.c.case_id.in_(case_ids)),
        "consents": await h.rows(consents, consents.c.client_id == client_id),
    }
    personal = {
        "identities": ["external_id"],
        "cases": [
            "contact_name",
            "contact_phone",
            "address",
            "postal_code",
            "reference",
            "need",
            "mode",
            "insurance_status",
            "insurer",
        ],
        "messages": ["text"],
        "case_notes": ["text"],
        "consents": ["wording_version"],
    }
    for table, rows in wanted.items():
        for row in rows:
            for column in personal[table]:
                value = getattr(row, column)
                if value:
                    found.append((f"{table}.{column}", str(value)))
    answers = [r.answers for r in await h.rows(conversations, conversations.c.id.in_(convo_ids))]
    found += [("conversations.answers", s) for a in answers for s in _strings(a) if len(s) > 3]
    return found


async def _old(h: Harness, days: int) -> None:
    h.clock.now = h.clock.now + timedelta(days=days)


async def test_retention_with_a_fake_clock(database_url: str, tmp_path: Path) -> None:
    async with harness(database_url, tmp_path) as h:
        desk = h.services.engine.privacy
        start = h.clock.now
        # A: gave a name, then left mid-intake. B: a case done today, with a prescription.
        # C: on the waitlist. D: a live case.
        for text in ("j'ai perdu mes lunettes", "oui", "non", "envoi", "3 rue Abandon 69003 Lyon"):
            await h.send("A", text=text)
        await h.send("B", text="mes lunettes ne me conviennent plus")
        prescription = h.services.files.save(tiny_png())
        await h.send("B", media=prescription)
        for text in VISIT[1:]:
            await h.send("B", text=text)
        await h.send("B", text="oui")
        b_case = await _case_of(h, "B")
        async with h.services.database.begin() as connection:
            await connection.execute(
                sa.update(cases).where(cases.c.id == b_case.id).values(status="done", done_at=start)
            )
        for text in ("autre chose", "oui"):
            await h.send("C", text=text)
        assert len(await h.rows(waitlist)) == 1
        await _visit(h, "D")
        files_dir = tmp_path / "data" / "prescriptions"
        assert len(list(files_dir.iterdir())) == 1
        async with h.services.database.begin() as connection:  # a poison webhook, set aside today
            await set_aside.record(
                connection, channel="whatsapp", kind="webhook", reason="22021", digest="0", size=9, now=start
            )

        # Day 31: B's prescription is past RETENTION_FILE_DAYS; a dry run counts and removes nothing.
        await _old(h, 31)
        dry = await desk.purge(dry_run=True)
        assert dry.prescriptions_deleted == 1
        assert dry.inbox_rows > 0
        assert len(list(files_dir.iterdir())) == 1
        assert (await _case_of(h, "B")).prescription_path is not None
        done = await desk.purge()
        assert done.prescriptions_deleted == 1
        assert list(files_dir.iterdir()) == []
        assert (await _case_of(h, "B")).prescription_path is None
        assert (await _case_of(h, "B")).contact_name == "Zephyrine Quarkwell"  # the case itself stays
        assert await h.rows(inbox) == []  # processed more than RETENTION_INBOX_DAYS ago
        assert done.clients_erased == 0

        # Day 91: A (no case) and B (closed case) are erased; C (waitlist) and D (live case) stay.
        await _old(h, 60)
        done = await desk.purge()
        assert done.clients_erased == 2
        remaining = {r.key.split(":", 1)[1] for r in await h.rows(identities) if r.key.startswith("script:")}
        assert remaining == {"C", "D"}
        anonymous = await h.rows(cases, cases.c.id == b_case.id)
        assert anonymous[0].anonymised_at is not None
        assert (anonymous[0].contact_name, anonymous[0].address, anonymous[0].contact_phone) == (
            None,
            None,
            None,
        )
        assert (anonymous[0].insurance_status, anonymous[0].insurer) == (None, None)
        assert (anonymous[0].need, anonymous[0].department, anonymous[0].status) == (
            "unsuitable",
            "75",
            "done",
        )
        assert await h.rows(messages, messages.c.conversation_id == b_case.conversation_id) == []
        d_case = await _case_of(h, "D")
        assert d_case.contact_name == "Zephyrine Quarkwell"
        journal = await h.rows(access_journal, access_journal.c.actor == "retention")
        assert len(journal) == 2

        # Day 181: the waitlist entry is past its delay; C goes too. The journal is kept a year.
        await _old(h, 90)
        done = await desk.purge()
        assert done.waitlist_entries == 1
        assert done.set_aside == 0  # kept as long as the access journal
        assert done.clients_erased == 1
        done_c = done.erased_clients
        assert await h.rows(waitlist) == []
        await _old(h, 280)  # day 461: the lines of day 91 are past RETENTION_JOURNAL_DAYS, not day 181's
        done = await desk.purge()
        assert done.journal_lines == 2
        assert done.set_aside == 1
        assert [line.client_id for line in await h.rows(access_journal)] == done_c
        async with h.services.database.connect() as connection:
            count = await connection.scalar(sa.select(sa.func.count()).select_from(clients))
        assert count == 2  # B's and D's: B's anonymous case still counts; A and C had none


async def test_an_erased_clients_redelivered_message_is_still_recognised(
    database_url: str, tmp_path: Path
) -> None:
    async with harness(database_url, tmp_path) as h:
        await h.send("gone", text="mes lunettes sont cassées", external_id="m-1")
        await h.send("gone", text="supprimer mes données", external_id="m-2")
        await h.send("gone", choice="erase", step="confirm_delete", external_id="m-3")
        assert await h.rows(identities, identities.c.key == "script:gone") == []
        # The platform sends the first message again: nothing happens, nothing is stored.
        assert await h.send("gone", text="mes lunettes sont cassées", external_id="m-1") == []
        assert await h.rows(identities, identities.c.key == "script:gone") == []
        rows = await h.rows(inbox)
        assert {r.external_id for r in rows} == {h.engine.pseudonyms.of(f"m-{i}") for i in (1, 2, 3)}
        assert all(r.payload == {} for r in rows)
        assert all(r.identity_key.startswith(privacy.HASH_PREFIX) for r in rows)


async def test_inbox_ids_stored_before_the_upgrade_are_hashed_and_still_recognised(
    database_url: str, tmp_path: Path
) -> None:
    async with harness(database_url, tmp_path) as h:
        async with h.services.database.begin() as connection:
            await connection.execute(
                sa.insert(inbox).values(
                    channel="script",
                    external_id="old-raw-id",
                    identity_key="script:old",
                    payload={},
                    received_at=h.clock.now,
                    processed_at=h.clock.now,
                )
            )
            assert await privacy.hash_legacy_inbox_ids(connection, h.engine.pseudonyms) == 1
            assert await privacy.hash_legacy_inbox_ids(connection, h.engine.pseudonyms) == 0
        (row,) = await h.rows(inbox)
        assert row.external_id == h.engine.pseudonyms.of("old-raw-id")
        # The platform delivers it again after the upgrade: recognised, nothing done.
        assert await h.send("old", text="bonjour", external_id="old-raw-id") == []
        assert await h.rows(identities, identities.c.key == "script:old") == []
